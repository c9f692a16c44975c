package authentik_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
)

// fileToken stands in for a token file: current is what the program holds, onDisk what the
// file holds now; Recheck takes the file's token when it differs.
type fileToken struct {
	mu       sync.Mutex
	current  string
	onDisk   string
	rechecks int
}

func (f *fileToken) Current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

func (f *fileToken) Recheck() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rechecks++
	if f.onDisk == f.current {
		return false
	}
	f.current = f.onDisk
	return true
}

func (f *fileToken) set(current, onDisk string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.current, f.onDisk = current, onDisk
}

// TestTokenRotation: a token rewritten while the program runs is used from the next request on,
// whether the source noticed the change itself or only after Authentik refused the old token;
// a refused token with no other one to take stays an error, sent once.
func TestTokenRotation(t *testing.T) {
	const rotated = "ak-rotated-token-91c2"
	tests := []struct {
		name string
		// rotate changes the token Authentik accepts and what the source holds and sees on disk.
		rotate       func(s *authentiktest.Server, src *fileToken)
		wantErr      error
		wantRechecks int
		wantRequests int
	}{
		{name: "the source already holds the new token: the next request sends it",
			rotate: func(s *authentiktest.Server, src *fileToken) {
				s.ReplaceToken(token, rotated)
				src.set(rotated, rotated)
			},
			wantRequests: 2},
		{name: "the file changed unnoticed: the refused request is sent once more with the new token",
			rotate: func(s *authentiktest.Server, src *fileToken) {
				s.ReplaceToken(token, rotated)
				src.set(token, rotated)
			},
			wantRechecks: 1, wantRequests: 3},
		{name: "the token was revoked and the file holds no other: an error, sent once",
			rotate: func(s *authentiktest.Server, src *fileToken) {
				s.ReplaceToken(token, rotated)
				src.set(token, token)
			},
			wantErr: authentik.ErrTokenRejected, wantRechecks: 1, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := authentiktest.New(token)
			t.Cleanup(s.Close)
			tree(s)
			src := &fileToken{current: token, onDisk: token}
			c, err := authentik.New(s.URL(), "", authentik.Options{Token: src, MemberRead: authentik.MemberReadEachGroup})
			if err != nil {
				t.Fatal(err)
			}
			if m := c.EffectiveMembers(t.Context(), []string{"admins"})["admins"]; m.Err != nil {
				t.Fatalf("before the rotation: %v", m.Err)
			}
			tt.rotate(s, src)
			s.ClearRequests()
			m := c.EffectiveMembers(t.Context(), []string{"admins"})["admins"]
			switch {
			case tt.wantErr == nil && m.Err != nil:
				t.Fatalf("after the rotation: %v", m.Err)
			case tt.wantErr == nil && len(m.Users) != 1:
				t.Fatalf("after the rotation: members %v, want erin", usernames(m.Users))
			case tt.wantErr != nil && !errors.Is(m.Err, tt.wantErr):
				t.Fatalf("after the rotation: error %v, want %v", m.Err, tt.wantErr)
			}
			if src.rechecks != tt.wantRechecks || len(s.Requests()) != tt.wantRequests {
				t.Fatalf("%d rechecks and requests %v; want %d rechecks and %d requests", src.rechecks, s.Requests(), tt.wantRechecks, tt.wantRequests)
			}
		})
	}
}

// TestTokenFromTheSourceIsChecked: a token the source hands out that cannot be sent as it is
// (a stray newline) is an error naming the setting, and nothing is sent.
func TestTokenFromTheSourceIsChecked(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	tree(s)
	src := &fileToken{current: token, onDisk: token}
	c, err := authentik.New(s.URL(), "", authentik.Options{Token: src})
	if err != nil {
		t.Fatal(err)
	}
	src.set(token+"\n", token+"\n")
	s.ClearRequests()
	m := c.EffectiveMembers(t.Context(), []string{"admins"})["admins"]
	if m.Err == nil || !strings.Contains(m.Err.Error(), "check AUTHENTIK_TOKEN for a stray newline") {
		t.Fatalf("error %v, want the token refused", m.Err)
	}
	if len(s.Requests()) != 0 {
		t.Fatalf("requests %v, want none", s.Requests())
	}
	if _, err := authentik.New(s.URL(), "", authentik.Options{}); err == nil {
		t.Fatal("New without a token or a source: no error")
	}
}
