package mas

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/mas/mastest"
)

const testProvider = "01H8PKNWKKRPCBW4YGH1RWV279"

func TestLookupExternalID(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *mastest.Server)
		provider string
		subject  string
		want     id.UserID
		// errPart is part of the error; "" means no error.
		errPart     string
		unavailable bool
	}{
		{name: "a linked user", subject: "uid-alice", want: "@alice:example.org"},
		{name: "a renamed user keeps the account the link names", subject: "uid-renamed", want: "@old.name:example.org"},
		{name: "no link: nobody yet", subject: "uid-carol", want: ""},
		{name: "a link nobody owns: nobody yet", subject: "uid-pending", want: ""},
		{name: "MAS down is an error, not nobody", subject: "uid-alice", setup: func(f *mastest.Server) { f.SetDown(true) },
			errPart: "unreachable", unavailable: true},
		{name: "MAS failing is an error, not nobody", subject: "uid-carol", setup: func(f *mastest.Server) { f.FailAdmin(http.StatusServiceUnavailable) },
			errPart: "HTTP 503", unavailable: true},
		{name: "MAS refusing tokens is an error", subject: "uid-carol", setup: func(f *mastest.Server) { f.FailToken(http.StatusInternalServerError) },
			errPart: "MAS failed to issue a token"},
		{name: "an unknown provider is an error naming the setting", subject: "uid-alice", provider: "01H8PKNWKKRPCBW4YGH1RWV27A",
			errPart: "set mas.upstream_provider / MAS_UPSTREAM_PROVIDER"},
		{name: "a provider that is no ULID is refused before asking", subject: "uid-alice", provider: "oidc-authentik",
			errPart: "not a MAS ID"},
		{name: "a link to a user MAS lost is an error", subject: "uid-ghost", errPart: "linked to MAS user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := mastest.New(t), newClock()
			f.SetNow(c.Now)
			f.AddProvider(testProvider, "Authentik")
			alice := f.AddUser("alice")
			renamed := f.AddUser("old.name")
			f.AddLink(testProvider, "uid-alice", alice.ID)
			f.AddLink(testProvider, "uid-renamed", renamed.ID)
			f.AddLink(testProvider, "uid-pending", "")
			f.AddLink(testProvider, "uid-ghost", "01J000000000000000000000ZZ")
			if tc.setup != nil {
				tc.setup(f)
			}
			provider := tc.provider
			if provider == "" {
				provider = testProvider
			}
			l := &Lookup{Client: newClient(t, f, c), Server: "example.org"}
			got, err := l.LookupExternalID(t.Context(), provider, tc.subject)
			switch {
			case tc.errPart == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)):
				t.Fatalf("got %q, %v; want an error mentioning %q", got, err, tc.errPart)
			case got != tc.want:
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if err != nil && IsUnavailable(err) != tc.unavailable {
				t.Errorf("IsUnavailable(%v) = %v", err, !tc.unavailable)
			}
		})
	}
}

func TestCheckProvider(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	f.AddProvider(testProvider, "Authentik")
	l := &Lookup{Client: newClient(t, f, c), Server: "example.org"}
	if err := l.CheckProvider(t.Context(), testProvider); err != nil {
		t.Errorf("known provider: %v", err)
	}
	err := l.CheckProvider(t.Context(), "01H8PKNWKKRPCBW4YGH1RWV27A")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mas.upstream_provider") {
		t.Errorf("unknown provider: %v", err)
	}
}
