package harness

import "syscall"

// processAttributes puts Synapse in its own process group, so Stop reaches anything it spawns, and
// has the kernel kill it when the test binary dies without calling Stop (a panic, a timeout, ^C).
// Pdeathsig follows the thread that started the child; Go does not end its threads while the
// program runs, so in practice that is the life of the test binary.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
