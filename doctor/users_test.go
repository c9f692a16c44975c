package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeUsers struct {
	ids      []string
	err      error
	accounts map[string]bool
}

func (f fakeUsers) MatrixIDs(context.Context, []string) ([]string, error) { return f.ids, f.err }
func (f fakeUsers) Exists(_ context.Context, u string) (bool, error)      { return f.accounts[u], nil }

func TestCheckMappedUsers(t *testing.T) {
	tests := []struct {
		name    string
		users   fakeUsers
		outcome Outcome
		detail  string
	}{
		{"every ID on the homeserver, accounts found", fakeUsers{ids: []string{"@alice:hs", "@bob:hs"}, accounts: map[string]bool{"@alice:hs": true}},
			Pass, "2 mapped users on hs; 1 of the 2 looked up have an account"},
		{"IDs on the example's server", fakeUsers{ids: []string{"@alice:example.com", "@bob:hs"}, accounts: map[string]bool{"@bob:hs": true}},
			Warn, "1 of 2 mapped Matrix IDs are not on hs (e.g. @alice:example.com)"},
		{"no account for any of them", fakeUsers{ids: []string{"@a.lice:hs", "@b.ob:hs"}},
			Warn, "none of the 2 mapped users looked up has an account"},
		{"no mapped user", fakeUsers{}, Warn, "no member of the mapped groups maps to a Matrix ID"},
		{"groups unreadable", fakeUsers{err: errors.New("HTTP 502")}, Skipped, "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkMappedUsers(context.Background(), Input{Users: tt.users, ServerName: "hs", Groups: []string{"staff"}})
			if len(got) != 1 || got[0].Outcome != tt.outcome || !strings.Contains(got[0].Detail, tt.detail) {
				t.Fatalf("got %+v, want %s with %q", got, tt.outcome, tt.detail)
			}
			if r := (Report{Results: got}); tt.outcome == Warn && !r.OK() {
				t.Errorf("a warning failed the run: %s", r.Summary())
			}
		})
	}
}
