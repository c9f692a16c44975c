package pgtest

import "syscall"

// setParentDeathSignal has the kernel kill the server when the test binary dies without Stop (a
// panic, a timeout): its children notice the postmaster is gone and exit too.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
