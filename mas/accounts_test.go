package mas

import (
	"net/http"
	"strings"
	"testing"

	"authentik-matrix-sync/mas/mastest"
)

func newAccounts(t *testing.T) (*mastest.Server, *Accounts) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	return f, &Accounts{Client: newClient(t, f, c), Server: "example.org"}
}

func TestSetLocked(t *testing.T) {
	f, a := newAccounts(t)
	alice := f.AddUser("alice")
	ctx := t.Context()
	lockPath := "POST /api/admin/v1/users/" + alice.ID + "/lock"
	unlockPath := "POST /api/admin/v1/users/" + alice.ID + "/unlock"

	if locked, err := a.Locked(ctx, "@alice:example.org"); locked || err != nil {
		t.Fatalf("Locked before = %v, %v", locked, err)
	}
	if err := a.SetLocked(ctx, "@alice:example.org", true); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.User(alice.ID); u.LockedAt == nil {
		t.Fatal("alice is not locked")
	}
	if locked, err := a.Locked(ctx, "@alice:example.org"); !locked || err != nil {
		t.Fatalf("Locked after = %v, %v", locked, err)
	}
	if err := a.SetLocked(ctx, "@alice:example.org", true); err != nil {
		t.Fatalf("locking a locked user: %v", err)
	}
	if n := f.Count(lockPath); n != 1 {
		t.Errorf("%d lock calls, want 1: a locked user is left alone", n)
	}
	if err := a.SetLocked(ctx, "@alice:example.org", false); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.User(alice.ID); u.LockedAt != nil {
		t.Fatal("alice is still locked")
	}
	if err := a.SetLocked(ctx, "@alice:example.org", false); err != nil || f.Count(unlockPath) != 1 {
		t.Errorf("unlocking an unlocked user: %v, %d unlock calls", err, f.Count(unlockPath))
	}
}

func TestSetLockedErrors(t *testing.T) {
	f, a := newAccounts(t)
	f.AddUser("alice")
	ctx := t.Context()
	// A user MAS does not know has nothing to lock: no error, and no account is made.
	if err := a.SetLocked(ctx, "@nobody:example.org", true); err != nil {
		t.Errorf("unknown user: %v", err)
	}
	if locked, err := a.Locked(ctx, "@nobody:example.org"); locked || err != nil {
		t.Errorf("Locked(unknown user) = %v, %v", locked, err)
	}
	if err := a.SetLocked(ctx, "@alice:other.org", true); err == nil || !strings.Contains(err.Error(), "not a user of example.org") {
		t.Errorf("another server's user: %v", err)
	}
	if err := a.SetLocked(ctx, "alice", true); err == nil {
		t.Error("a malformed ID was accepted")
	}
	f.FailAdmin(http.StatusBadGateway)
	if err := a.SetLocked(ctx, "@alice:example.org", true); err == nil || !IsUnavailable(err) {
		t.Errorf("MAS failing: %v", err)
	}
	if _, err := a.Locked(ctx, "@alice:example.org"); err == nil {
		t.Error("Locked with MAS failing: no error")
	}
	if n := f.Count("POST /api/admin/v1/"); n != 0 {
		t.Errorf("%d writes were attempted", n)
	}
}

func TestLogout(t *testing.T) {
	f, a := newAccounts(t)
	alice, bob := f.AddUser("alice"), f.AddUser("bob")
	// More compat sessions than one page, so that the listing follows the cursor.
	for range pageSize + 20 {
		f.AddSession(mastest.Compat, alice.ID)
	}
	f.AddSession(mastest.OAuth2, alice.ID)
	f.AddSession(mastest.OAuth2, alice.ID)
	browser := f.AddSession(mastest.Browser, alice.ID)
	f.AddSession(mastest.Compat, bob.ID)
	f.AddSession(mastest.Browser, bob.ID)

	if err := a.Logout(t.Context(), "@alice:example.org"); err != nil {
		t.Fatal(err)
	}
	if n := f.ActiveSessions(alice.ID); n != 0 {
		t.Errorf("alice has %d active sessions left", n)
	}
	if n := f.ActiveSessions(bob.ID); n != 2 {
		t.Errorf("bob has %d active sessions, want his 2 untouched", n)
	}
	if s, _ := f.Session(browser.ID); s.FinishedAt == nil {
		t.Error("alice's browser session is not finished")
	}
	if n := f.Count("GET /api/admin/v1/compat-sessions"); n != 2 {
		t.Errorf("%d compat-session pages read, want 2", n)
	}
	// A second logout finds nothing to finish.
	before := f.Count("POST /api/admin/v1/")
	if err := a.Logout(t.Context(), "@alice:example.org"); err != nil || f.Count("POST /api/admin/v1/") != before {
		t.Errorf("second logout: %v, %d more finish calls", err, f.Count("POST /api/admin/v1/")-before)
	}
}

func TestLogoutErrors(t *testing.T) {
	f, a := newAccounts(t)
	alice := f.AddUser("alice")
	f.AddSession(mastest.Compat, alice.ID)
	if err := a.Logout(t.Context(), "@nobody:example.org"); err != nil {
		t.Errorf("unknown user: %v", err)
	}
	f.SetDown(true)
	err := a.Logout(t.Context(), "@alice:example.org")
	if err == nil || !IsUnavailable(err) || !strings.Contains(err.Error(), "log out @alice:example.org") {
		t.Errorf("MAS down: %v", err)
	}
	f.SetDown(false)
	if f.ActiveSessions(alice.ID) != 1 {
		t.Error("a session ended while MAS was down")
	}
}

func TestFinishSessionIsIdempotent(t *testing.T) {
	f, a := newAccounts(t)
	alice := f.AddUser("alice")
	s := f.AddSession(mastest.OAuth2, alice.ID)
	for i := range 2 {
		if err := a.Client.FinishSession(t.Context(), OAuth2Sessions, s.ID); err != nil {
			t.Fatalf("finish #%d: %v", i+1, err)
		}
	}
	if err := a.Client.FinishSession(t.Context(), OAuth2Sessions, "01J000000000000000000000ZZ"); err != nil {
		t.Errorf("finishing a session that is gone: %v", err)
	}
	if err := a.Client.FinishSession(t.Context(), OAuth2Sessions, "../users"); err == nil {
		t.Error("an ID that is no ULID went into a path")
	}
}
