//go:build !linux

package pgtest

import "syscall"

// setParentDeathSignal does nothing outside Linux: a test binary that dies without Stop leaves
// the server running until its directory is removed.
func setParentDeathSignal(*syscall.SysProcAttr) {}
