package authentiktest

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestDeleteUserLeavesGroupsAndListings(t *testing.T) {
	s := New("tok")
	defer s.Close()
	s.AddUser("alice")
	s.AddUser("bob")
	s.AddGroup("staff", "")
	s.AddMembers("staff", "alice", "bob")
	s.DeleteUser("bob")
	if _, ok := s.User("bob"); ok {
		t.Error("bob still exists")
	}
	if g, _ := s.Group("staff"); len(g.Members) != 1 {
		t.Errorf("staff members %v, want alice only", g.Members)
	}
	s.AddUser("bob") // the name is free again, with a new pk
	if u, _ := s.User("bob"); u.PK <= 2 {
		t.Errorf("recreated bob has pk %d, want a new one", u.PK)
	}
}

func TestSetNameAndAttributesShowInTheUserListing(t *testing.T) {
	s := New("tok")
	defer s.Close()
	s.AddUser("alice")
	s.SetName("alice", "Alice Renamed")
	s.SetAttributes("alice", map[string]any{"avatar": "mxc://hs/a"})
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v3/core/users/?username=alice", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Results []struct {
			Name       string         `json:"name"`
			Attributes map[string]any `json:"attributes"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	if len(page.Results) != 1 || page.Results[0].Name != "Alice Renamed" || page.Results[0].Attributes["avatar"] != "mxc://hs/a" {
		t.Errorf("listing %+v", page.Results)
	}
}
