package appservice

import (
	"bytes"
	"testing"

	"github.com/rs/zerolog"
)

// TestWithoutClientRequestLines: the client's end-of-request lines go, its retry warnings and
// every other line stay.
func TestWithoutClientRequestLines(t *testing.T) {
	tests := []struct {
		level zerolog.Level
		msg   string
		kept  bool
	}{
		{zerolog.DebugLevel, "Request completed", false},
		{zerolog.ErrorLevel, "Request failed", false},
		{zerolog.WarnLevel, "Request canceled", false},
		{zerolog.WarnLevel, "Request parsing failed", false},
		{zerolog.WarnLevel, "Request failed, retrying", true},
		{zerolog.DebugLevel, "Upstream request", true},
		{zerolog.InfoLevel, "Cycle finished", true},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			var buf bytes.Buffer
			log := zerolog.New(&buf).Hook(WithoutClientRequestLines{}).With().Str("component", "matrix").Logger()
			log.WithLevel(tc.level).Str("method", "GET").Msg(tc.msg)
			if kept := buf.Len() > 0; kept != tc.kept {
				t.Errorf("kept %v, want %v: %q", kept, tc.kept, buf.String())
			}
		})
	}
}
