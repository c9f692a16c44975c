package authentik_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
)

func TestDoctorProbes(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	s.AddUser("alice")
	s.AddGroup("staff", "")
	s.AddGroup("backend", "staff")
	s.AddUnprivilegedToken("weak-token-123")
	s.SetVersion("2025.10.3")
	ctx := context.Background()

	c, err := authentik.New(s.URL(), token, authentik.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Version(ctx); err != nil || v != "2025.10.3" {
		t.Errorf("Version = %q, %v; want 2025.10.3", v, err)
	}
	if me, err := c.Me(ctx); err != nil || me != authentiktest.AdminUsername {
		t.Errorf("Me = %q, %v; want %s", me, err, authentiktest.AdminUsername)
	}
	if err := c.CanListUsers(ctx); err != nil {
		t.Errorf("CanListUsers: %v", err)
	}
	if names, err := c.GroupNames(ctx); err != nil || len(names) != 2 || names[0] != "backend" || names[1] != "staff" {
		t.Errorf("GroupNames = %v, %v; want [backend staff]", names, err)
	}

	weak, _ := authentik.New(s.URL(), "weak-token-123", authentik.Options{})
	if _, err := weak.Version(ctx); err != nil {
		t.Errorf("an unprivileged token cannot read the version: %v", err)
	}
	_, groupsErr := weak.GroupNames(ctx)
	for name, err := range map[string]error{"users": weak.CanListUsers(ctx), "groups": groupsErr} {
		if !errors.Is(err, authentik.ErrPermissionDenied) {
			t.Errorf("unprivileged listing of %s: %v, want ErrPermissionDenied", name, err)
		}
	}

	bad, _ := authentik.New(s.URL(), "wrong-token", authentik.Options{})
	_, err = bad.Version(ctx)
	if !errors.Is(err, authentik.ErrTokenRejected) || authentik.IsUnreachable(err) || authentik.IsTokenNotReceived(err) {
		t.Errorf("wrong token: %v, want ErrTokenRejected", err)
	}
	// The doctor shows the hint as its fix line and the rest as what failed, each once.
	if detail, hint := authentik.SplitHint(err); !strings.Contains(hint, "AUTHENTIK_TOKEN") ||
		strings.Contains(detail, hint) || detail+" ("+hint+")" != err.Error() || !strings.HasPrefix(detail, "read authentik version: ") {
		t.Errorf("SplitHint(%v) = %q, %q; want the message and its hint apart", err, detail, hint)
	}
	if detail, hint := authentik.SplitHint(errors.New("plain")); detail != "plain" || hint != "" {
		t.Errorf("SplitHint of an error without hint = %q, %q", detail, hint)
	}

	// Something that is not Authentik: a plain page at the URL.
	s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/admin/version/", Status: 200, Body: "<html>login</html>",
		Header: map[string]string{"Content-Type": "text/html"}})
	if _, err := c.Version(ctx); !errors.Is(err, authentik.ErrNotAuthentikAPI) {
		t.Errorf("an HTML page: %v, want ErrNotAuthentikAPI", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	down, _ := authentik.New("http://"+addr, token, authentik.Options{})
	if _, err := down.Version(ctx); !authentik.IsUnreachable(err) {
		t.Errorf("nothing listening: %v, want unreachable", err)
	}
}
