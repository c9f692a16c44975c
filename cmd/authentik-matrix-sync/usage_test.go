package main

import (
	"bytes"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestUsageListsEveryCommand checks the usage text against the commands the code dispatches on,
// read from the source, so a new command cannot be forgotten in the help.
func TestUsageListsEveryCommand(t *testing.T) {
	var buf bytes.Buffer
	writeUsage(&buf, flag.NewFlagSet("x", flag.ContinueOnError))
	usage := buf.String()

	var dispatched []string
	for _, file := range []string{"main.go", "postgres.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?:command == |case )((?:"[a-z-]+"(?:, )?)+)`).FindAllStringSubmatch(string(src), -1) {
			for _, q := range regexp.MustCompile(`"([a-z-]+)"`).FindAllStringSubmatch(m[1], -1) {
				dispatched = append(dispatched, q[1])
			}
		}
	}
	for _, want := range []string{"run", "plan", "doctor", "healthcheck", "backup", "restore", "migrate-store", "version", "help"} {
		if !strings.Contains(strings.Join(dispatched, " "), want) {
			t.Errorf("the dispatch regexp did not find %q in the source; fix the test", want)
		}
	}
	for _, name := range dispatched {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` `).MatchString(usage) {
			t.Errorf("usage does not list %q:\n%s", name, usage)
		}
	}
	if !strings.Contains(usage, "-g [-r registration.yaml]") {
		t.Errorf("usage lacks -g:\n%s", usage)
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
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var code int
			_, stderr := captureOutput(t, func() { code = run(tt.args) })
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}
