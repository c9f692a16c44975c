package main

import (
	"testing"
)

func TestWhyFlagBelongsToPlan(t *testing.T) {
	for _, args := range [][]string{{"doctor", "-why", "@a:hs"}, {"plan", "-room", "!r:hs"}} {
		if code := run(args); code != 2 {
			t.Errorf("run(%v) = %d, want 2", args, code)
		}
	}
}
