package app

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	tests := []struct {
		name string
		gogc *string
		want int
	}{
		{"GOGC unset: the program's default", nil, defaultGCPercent},
		{"GOGC set: left to Go", ptr("200"), 100},
		{"GOGC=off set: left to Go", ptr("off"), 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.gogc == nil {
				t.Setenv("GOGC", "")
				os.Unsetenv("GOGC")
			} else {
				t.Setenv("GOGC", *tc.gogc)
			}
			debug.SetGCPercent(100) // what the runtime would have made of the environment does not matter here
			TuneGC()
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GC percent after tuneGC: %d, want %d", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
