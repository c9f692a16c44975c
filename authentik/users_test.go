package authentik_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
)

func TestListInactiveUsers(t *testing.T) {
	s := authentiktest.New(token)
	defer s.Close()
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.AddUser(u)
	}
	s.SetActive("bob", false)
	s.SetActive("dave", false)
	c, err := authentik.New(s.URL(), token, authentik.Options{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListInactiveUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if names := usernames(got); !slices.Equal(names, []string{"bob", "dave"}) {
		t.Errorf("inactive users %v, want bob and dave", names)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r, "core/users/") && (!strings.Contains(r, "is_active=false") || !strings.Contains(r, "include_groups=false")) {
			t.Errorf("request %q does not filter on is_active=false with include_groups=false", r)
		}
	}
}

func TestListUsersListsEveryone(t *testing.T) {
	s := authentiktest.New(token)
	defer s.Close()
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(u, authentiktest.WithName(strings.ToUpper(u)))
	}
	s.SetActive("carol", false)
	c, err := authentik.New(s.URL(), token, authentik.Options{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if names := usernames(got); !slices.Equal(names, []string{"alice", "bob", "carol"}) {
		t.Fatalf("users %v", names)
	}
	if got[0].Name != "ALICE" || !got[0].IsActive || got[2].IsActive {
		t.Errorf("users read as %+v", got)
	}
}

func TestListInactiveUsersFailsWholeOnAFailedPage(t *testing.T) {
	s := authentiktest.New(token)
	defer s.Close()
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(u)
		s.SetActive(u, false)
	}
	s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/users/", Page: 2, Status: 500, Times: 1})
	c, err := authentik.New(s.URL(), token, authentik.Options{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.ListInactiveUsers(context.Background()); err == nil {
		t.Fatalf("a listing with a failed page gave %v and no error", usernames(got))
	}
}
