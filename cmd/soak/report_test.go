package main

import (
	"strings"
	"testing"
)

func TestReportPassesOnlyWithoutWrongOrMissedRemovals(t *testing.T) {
	tests := []struct {
		name string
		rep  report
		want bool
	}{
		{"clean", report{Removals: 12}, true},
		{"a wrongful removal", report{WrongfulRemovals: []string{"u0001 from g01"}}, false},
		{"a missed removal", report{MissedRemovals: []string{"u0002 still join in g02"}}, false},
		{"the bot died", report{BotExitedEarly: true, BotExitErr: "signal: killed"}, false},
		{"memory flat after the warm-up", report{Memory: memSummary{Samples: 100, First: 30 << 20, Min: 29 << 20, Max: 31 << 20}}, true},
		{"memory grew after the warm-up", report{Memory: memSummary{Samples: 100, First: 25 << 20, Min: 25 << 20, Max: 31 << 20}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rep.Passed(); got != tt.want {
				t.Errorf("Passed() = %v, want %v", got, tt.want)
			}
			text := tt.rep.String()
			wantResult := map[bool]string{true: "PASS", false: "FAIL"}[tt.want]
			if !strings.Contains(text, "result                   "+wantResult) {
				t.Errorf("report does not end in %s:\n%s", wantResult, text)
			}
			for _, label := range []string{"cycles", "injected faults", "wrongful removals", "missed due removals", "bot RSS"} {
				if !strings.Contains(text, label) {
					t.Errorf("report lacks %q", label)
				}
			}
		})
	}
}
