package authentiktest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
)

// TestOutagesAsTheClientSeesThem runs the real client against each outage: every one must
// leave the group's membership unknown (never empty), and clear once the faults are cleared.
func TestOutagesAsTheClientSeesThem(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(s *authentiktest.Server) authentiktest.Fault
		wantErr string // a part of the error the client reports
		reads   []authentik.MemberRead
	}{
		{"unreachable", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.Unreachable() }, "Authentik is reachable", nil},
		{"500", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.Failing(500) }, "HTTP 500", nil},
		{"token revoked", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.TokenRevoked() }, "Token invalid/expired", nil},
		{"timeout", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.Hanging(time.Minute) }, "no complete answer within", nil},
		{"truncated", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.TruncatedBodies() }, "", nil},
		{"malformed JSON", func(*authentiktest.Server) authentiktest.Fault { return authentiktest.MalformedJSON() }, "", nil},
		{"group gone", func(s *authentiktest.Server) authentiktest.Fault {
			g, _ := s.Group("staff")
			return authentiktest.GroupGone(g.PK)
		}, "HTTP 404: No Group matches the given query.", []authentik.MemberRead{authentik.MemberReadEachGroup}},
	}
	for _, tt := range tests {
		reads := tt.reads
		if reads == nil {
			reads = []authentik.MemberRead{authentik.MemberReadGroupListing, authentik.MemberReadEachGroup}
		}
		for _, read := range reads {
			t.Run(tt.name+"/"+read.String(), func(t *testing.T) {
				testOutage(t, tt.fault, tt.wantErr, read)
			})
		}
	}
}

func testOutage(t *testing.T, fault func(s *authentiktest.Server) authentiktest.Fault, wantErr string, read authentik.MemberRead) {
	s := newFake(t)
	c, err := authentik.New(s.URL(), token, authentik.Options{Timeout: 300 * time.Millisecond, MemberRead: read})
	if err != nil {
		t.Fatal(err)
	}
	s.InjectFault(fault(s))
	ctx := context.Background()
	for range 2 { // an outage lasts: the second read fails as the first
		got := c.EffectiveMembers(ctx, []string{"staff"})["staff"]
		if got.Err == nil || got.Users != nil {
			t.Fatalf("membership during the outage = %+v, want unknown", got)
		}
		if !strings.Contains(got.Err.Error(), wantErr) {
			t.Errorf("error %q does not mention %q", got.Err, wantErr)
		}
	}
	s.ClearFaults()
	if got := c.EffectiveMembers(ctx, []string{"staff"})["staff"]; got.Err != nil || len(got.Users) == 0 {
		t.Fatalf("after clearing the faults: %+v, want the members", got)
	}
}

func TestDropThroughTheControlAPI(t *testing.T) {
	s := newFake(t)
	if status, body := post(t, s, "/_fake/faults", `{"drop":true,"times":1}`); status != http.StatusCreated {
		t.Fatalf("inject: %d %s", status, body)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v3/core/groups/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("got %d %s, want the connection dropped", resp.StatusCode, b)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a dropped connection, not a timeout", err)
	}
	if status, _ := get(t, s, "/api/v3/core/groups/", token); status != 200 {
		t.Errorf("after the one drop: %d, want 200", status)
	}
}
