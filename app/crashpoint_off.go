//go:build !crashpoints

package app

// crashHook is nil in release builds: AMS_CRASHPOINT is ignored. See crashpoint.go.
func crashHook() func(string) { return nil }
