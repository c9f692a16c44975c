//go:build !crashpoints

package main

// crashHook is nil in release builds: AMS_CRASHPOINT is ignored. See crashpoint.go.
func crashHook() func(string) { return nil }
