//go:build !crashpoints

package app

import "testing"

// TestReleaseBuildIgnoresCrashpoints: without the build tag, the variable that would kill a test
// build changes nothing.
func TestReleaseBuildIgnoresCrashpoints(t *testing.T) {
	t.Setenv("AMS_CRASHPOINT", "before_kick:1")
	if crashHook() != nil {
		t.Fatal("a release build installs a crash hook")
	}
}
