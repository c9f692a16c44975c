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
