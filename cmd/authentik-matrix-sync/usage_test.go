package main

import (
	"bytes"
	"flag"
	"regexp"
	"strings"
	"testing"

	"authentik-matrix-sync/internal/stdiotest"
)

// TestUsageListsEveryCommand: help lists every command of the table, each with its own flags,
// and run dispatches every one of them (an unknown name is refused, exit 2).
func TestUsageListsEveryCommand(t *testing.T) {
	var buf bytes.Buffer
	writeUsage(&buf)
	usage := buf.String()
	for _, want := range []string{"run", "plan", "doctor", "healthcheck", "backup", "restore", "migrate-store", "version", "help"} {
		if commandNamed(want) == nil {
			t.Errorf("the table lacks %q", want)
		}
	}
	for _, c := range commands {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + ` `).MatchString(usage) {
			t.Errorf("usage does not list %q:\n%s", c.name, usage)
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(usage, "      -"+f.Name) {
				t.Errorf("usage does not list %s's flag -%s:\n%s", c.name, f.Name, usage)
			}
		})
	}
	for _, want := range []string{"-g [-r registration.yaml]", "-live", "-why", "-from"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %s:\n%s", want, usage)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"-help"}} {
		if code := run(args); code != 0 {
			t.Errorf("run(%v) = %d, want 0", args, code)
		}
	}
	if code := run([]string{"frobnicate"}); code != 2 {
		t.Errorf("an unknown command exits %d, want 2", code)
	}
}

// TestFlagsBelongToTheirCommand: a flag given to a command it does nothing for is refused
// (exit 2, naming where it belongs) instead of being silently ignored.
func TestFlagsBelongToTheirCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"doctor", "-live"}, "-live does nothing for doctor: it belongs to healthcheck"},
		{[]string{"plan", "-g"}, "-g does nothing for plan: it belongs to no command"},
		{[]string{"-r", "x.yaml", "doctor"}, "-r does nothing for doctor"},
		{[]string{"healthcheck", "-why", "@a:b"}, "-why does nothing for healthcheck: it belongs to plan"},
		{[]string{"backup", "-from", "sqlite:x"}, "-from does nothing for backup: it belongs to migrate-store"},
		{[]string{"doctor", "-force"}, "-force belongs to -g"},
		{[]string{"-live", "healthcheck"}, "-live belongs to healthcheck: give it after the command"},
		{[]string{"plan", "-room", "!r:b"}, "-room goes with -why"},
		{[]string{"-c", "x.yaml", "run"}, "run is the default"},
		{[]string{"-force"}, "-force belongs to -g"},
		{[]string{"-r", "x.yaml"}, "-r goes with -g"},
		{[]string{"doctor", "-nosuch"}, "-nosuch: no such flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var code int
			_, stderr := stdiotest.Capture(t, func() { code = run(tt.args) })
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}
