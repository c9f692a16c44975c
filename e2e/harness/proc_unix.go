//go:build unix && !linux

package harness

import "syscall"

// processAttributes puts Synapse in its own process group so Stop reaches anything it spawns.
// Outside Linux there is no parent-death signal: a test binary that dies without calling Stop
// leaves Synapse running.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
