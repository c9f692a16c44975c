//go:build crashpoints

package app

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// crashHook returns the reconciler hook of a test build (-tags crashpoints): with
// AMS_CRASHPOINT=<point>:<n>, the process kills itself with SIGKILL the n-th time it reaches
// point, as a power cut or the OOM killer would, with no chance to clean up. The crash tests use
// it; release builds have crashpoint_off.go instead and ignore the variable.
func crashHook() func(string) {
	spec, ok := os.LookupEnv("AMS_CRASHPOINT")
	if !ok || spec == "" {
		return nil
	}
	point, nText, found := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nText)
	if !found || point == "" || err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "AMS_CRASHPOINT=%q: want <point>:<n> with n >= 1\n", spec)
		os.Exit(2)
	}
	var reached atomic.Int64
	return func(p string) {
		if p != point || reached.Add(1) != int64(n) {
			return
		}
		fmt.Fprintf(os.Stderr, "crashpoint %s reached %d time(s): SIGKILL\n", p, n)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends the process; nothing after the point may run
	}
}
