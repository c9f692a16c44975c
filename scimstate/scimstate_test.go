package scimstate

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestEmailPrimary(t *testing.T) {
	tests := []struct {
		body    string
		primary bool
		bad     bool
	}{
		{`{"value":"a@example.org","primary":true}`, true, false},
		{`{"value":"a@example.org","primary":"True"}`, true, false}, // Entra ID
		{`{"value":"a@example.org","primary":"False"}`, false, false},
		{`{"value":"a@example.org","primary":null}`, false, false},
		{`{"value":"a@example.org"}`, false, false},
		{`{"value":"a@example.org","primary":"yes"}`, false, true},
		{`{"value":"a@example.org","primary":1}`, false, true},
	}
	for _, tc := range tests {
		var e Email
		err := json.Unmarshal([]byte(tc.body), &e)
		if (err != nil) != tc.bad {
			t.Errorf("%s: error %v, want error %v", tc.body, err, tc.bad)
			continue
		}
		if !tc.bad && (e.Primary != tc.primary || e.Value != "a@example.org") {
			t.Errorf("%s: got %+v", tc.body, e)
		}
	}
}

func TestApply(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := Empty()
	steps := []Change{
		{At: at, PutUser: &User{ID: "u1", UserName: "alice", Active: true}},
		{At: at, PutUser: &User{ID: "u2", UserName: "bob", Active: true}},
		{At: at, PutGroup: &Group{ID: "g1", DisplayName: "staff", Members: []string{"ignored"}}},
		{At: at, MembersOf: "g1", AddMembers: []string{"u2", "u1"}},
		{At: at.Add(time.Minute), Settled: at.Add(time.Minute), DeleteUser: "u1"},
		{At: at.Add(2 * time.Minute), Settled: at.Add(2 * time.Minute), PutGroup: &Group{ID: "g1", DisplayName: "crew"}},
	}
	for _, c := range steps {
		s.Apply(c)
	}
	g := s.Groups["g1"]
	if s.Version != int64(len(steps)) || g.DisplayName != "crew" || !slices.Equal(g.Members, []string{"u2"}) || len(s.Users) != 1 {
		t.Fatalf("after the changes: %+v", s)
	}
	if !s.LastWrite.Equal(at.Add(2*time.Minute)) || !s.SettledAt.Equal(at.Add(time.Minute)) {
		t.Errorf("last write %v, settled %v: want the last change's time and the first settle kept", s.LastWrite, s.SettledAt)
	}
}
