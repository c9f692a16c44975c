package authentiktest_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/authentik/authentiktest"
)

// TestModelledCPU: each answer adds its price under the cost model: a request's own cost, each
// user row of core/users/, each users_obj row of core/groups/ (none with include_users=false);
// nothing before a model is set, and nothing after a reset.
func TestModelledCPU(t *testing.T) {
	model := authentiktest.CostModel{PerRequest: time.Second, PerUserRow: time.Millisecond, PerMemberRow: time.Microsecond}
	tests := []struct {
		name string
		path func(s *authentiktest.Server) string
		tok  string
		want time.Duration
	}{
		{"a page of two users", func(*authentiktest.Server) string { return "/api/v3/core/users/?page_size=2" }, token,
			time.Second + 2*time.Millisecond},
		{"one user", func(s *authentiktest.Server) string {
			u, _ := s.User("alice")
			return "/api/v3/core/users/" + strconv.Itoa(u.PK) + "/"
		}, token,
			time.Second + time.Millisecond},
		{"groups with their members (staff 1, engineering 2)", func(*authentiktest.Server) string { return "/api/v3/core/groups/" }, token,
			time.Second + 3*time.Microsecond},
		{"groups without their members", func(*authentiktest.Server) string { return "/api/v3/core/groups/?include_users=false" }, token,
			time.Second},
		{"one group with its members", func(s *authentiktest.Server) string {
			g, _ := s.Group("engineering")
			return "/api/v3/core/groups/" + g.PK + "/"
		}, token,
			time.Second + 2*time.Microsecond},
		{"a refused token", func(*authentiktest.Server) string { return "/api/v3/core/users/" }, "wrong", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			if _, body := get(t, s, tt.path(s), tt.tok); s.ModelledCPU() != 0 {
				t.Fatalf("charged %s without a cost model (%s)", s.ModelledCPU(), body)
			}
			s.SetCostModel(model)
			if _, body := get(t, s, tt.path(s), tt.tok); s.ModelledCPU() != tt.want {
				t.Fatalf("charged %s, want %s (%s)", s.ModelledCPU(), tt.want, body)
			}
			s.ResetModelledCPU()
			if s.ModelledCPU() != 0 {
				t.Fatalf("after a reset: %s", s.ModelledCPU())
			}
		})
	}
}

// TestReplaceToken: the new token works for the same user, the old one is refused as Authentik
// refuses a deleted token.
func TestReplaceToken(t *testing.T) {
	s := newFake(t)
	s.ReplaceToken(token, "next-token")
	if status, body := get(t, s, "/api/v3/core/groups/", token); status != http.StatusForbidden || string(body) != `{"detail":"Token invalid/expired"}` {
		t.Errorf("old token: %d %s, want 403 Token invalid/expired", status, body)
	}
	if status, body := get(t, s, "/api/v3/core/groups/", "next-token"); status != http.StatusOK {
		t.Errorf("new token: %d %s, want 200", status, body)
	}
	if _, body := get(t, s, "/api/v3/core/users/me/", "next-token"); !strings.Contains(string(body), `"username":"akadmin"`) {
		t.Errorf("users/me with the new token: %s, want akadmin", body)
	}
}
