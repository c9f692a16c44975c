package usermap_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/usermap"
)

// userSource is a source that also lists the inactive users.
type userSource struct {
	source
	inactive []directory.User
	err      error
}

func (s userSource) ListInactiveUsers(context.Context) ([]directory.User, error) {
	return s.inactive, s.err
}

func newMapper(t *testing.T) *usermap.Mapper {
	t.Helper()
	m, err := usermap.New("@{username}:{server}", "matrix_id", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInactiveUsersAreMappedLikeGroupMembers(t *testing.T) {
	src := userSource{inactive: []directory.User{
		{PK: 1, Username: "Alice"},
		{PK: 2, Username: "bob", Attributes: map[string]any{"matrix_id": "@robert:example.org"}},
		{PK: 3, Username: "broken", Attributes: map[string]any{"matrix_id": "not an id"}},
	}}
	d := &usermap.Directory{Source: src, Mapper: newMapper(t), Log: zerolog.Nop()}
	got, err := d.InactiveUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[id.UserID]plan.DirectoryAccount{"@alice:example.org": {SourceID: "1", Username: "Alice"},
		"@robert:example.org": {SourceID: "2", Username: "bob"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inactive %v, want %v", got, want)
	}
	src.err = errors.New("HTTP 500")
	d.Source = src
	if _, err := d.InactiveUsers(context.Background()); err == nil {
		t.Error("a failed listing gave no error")
	}
	if _, err := (&usermap.Directory{Source: source{}, Mapper: newMapper(t)}).InactiveUsers(context.Background()); err == nil {
		t.Error("a source that cannot list users gave no error")
	}
}

func TestLookupAccountsAsksAuthentikForEachUser(t *testing.T) {
	const token = "lookup-token"
	fake := authentiktest.New(token)
	defer fake.Close()
	alice := fake.AddUser("alice")
	bob := fake.AddUser("bob", authentiktest.WithActive(false))
	carol := fake.AddUser("carol")
	dave := fake.AddUser("dave")
	fake.DeleteUser("carol")
	fake.RenameUser("dave", "david")
	client, err := authentik.New(fake.URL(), token, authentik.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &usermap.Directory{Source: client, Mapper: newMapper(t), Log: zerolog.Nop()}
	ask := map[id.UserID]plan.DirectoryAccount{
		"@alice:example.org": {SourceID: strconv.Itoa(alice.PK), Username: "alice"},
		"@bob:example.org":   {SourceID: strconv.Itoa(bob.PK), Username: "bob"},
		"@carol:example.org": {SourceID: strconv.Itoa(carol.PK), Username: "carol"},
		"@dave:example.org":  {SourceID: strconv.Itoa(dave.PK), Username: "dave"}, // renamed: the account maps to @david now
		"@eve:example.org":   {SourceID: "not-a-pk"},
	}
	got, err := d.LookupAccounts(context.Background(), ask)
	if err == nil || !strings.Contains(err.Error(), "1 of 5") {
		t.Errorf("error %v: want the one bad source ID reported", err)
	}
	want := map[id.UserID]plan.AccountStatus{"@alice:example.org": plan.AccountActive, "@bob:example.org": plan.AccountInactive,
		"@carol:example.org": plan.AccountGone, "@dave:example.org": plan.AccountUnknown, "@eve:example.org": plan.AccountUnknown}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}

	// Authentik failing is no evidence: every status is unknown, never gone.
	fake.Close()
	got, err = d.LookupAccounts(context.Background(), map[id.UserID]plan.DirectoryAccount{"@alice:example.org": {SourceID: strconv.Itoa(alice.PK)}})
	if err == nil || got["@alice:example.org"] != plan.AccountUnknown {
		t.Errorf("with Authentik down: %v, %v; want unknown and an error", got, err)
	}
	if _, err := (&usermap.Directory{Source: source{}, Mapper: newMapper(t)}).LookupAccounts(context.Background(), ask); err == nil {
		t.Error("a source that cannot look users up gave no error")
	}
}

func TestADeletedAccountMadeAgainUnderItsUsernameIsNotGone(t *testing.T) {
	const token = "successor-token"
	fake := authentiktest.New(token)
	defer fake.Close()
	old := fake.AddUser("carol")
	gone := fake.AddUser("dan")
	fake.DeleteUser("carol")
	fake.DeleteUser("dan")
	made := fake.AddUser("carol") // a new account, a new pk, the same username and so the same Matrix ID
	client, err := authentik.New(fake.URL(), token, authentik.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &usermap.Directory{Source: client, Mapper: newMapper(t), Log: zerolog.Nop()}
	asked := map[id.UserID]plan.DirectoryAccount{
		"@carol:example.org": {SourceID: strconv.Itoa(old.PK), Username: "carol"},
		"@dan:example.org":   {SourceID: strconv.Itoa(gone.PK), Username: "dan"},
	}
	got, err := d.LookupAccounts(context.Background(), asked)
	want := map[id.UserID]plan.AccountStatus{"@carol:example.org": plan.AccountActive, "@dan:example.org": plan.AccountGone}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, %v; want %v", got, err, want)
	}
	// The new account's pk comes back, so that later cycles look it up directly.
	if a := asked["@carol:example.org"]; a.SourceID != strconv.Itoa(made.PK) || a.Username != "carol" {
		t.Errorf("carol's account after the lookup: %+v, want the new pk %d", a, made.PK)
	}
	if a := asked["@dan:example.org"]; a.SourceID != strconv.Itoa(gone.PK) {
		t.Errorf("dan's account after the lookup: %+v, want the one asked about", a)
	}
}

func TestProfilesAreReadFromGroupListingsOnlyWhenSynced(t *testing.T) {
	src := source{"staff": {Users: []directory.User{
		{PK: 1, Username: "alice", Name: "Alice A", Attributes: map[string]any{"avatar": "mxc://example.org/a"}},
		{PK: 2, Username: "bob", Name: "Bob B", Attributes: map[string]any{"avatar": 7}},
	}}}
	off := (&usermap.Directory{Source: src, Mapper: newMapper(t), Log: zerolog.Nop()}).Members(context.Background(), []string{"staff"})
	if off["staff"].Profiles != nil {
		t.Errorf("profiles kept without profile sync: %v", off["staff"].Profiles)
	}
	d := &usermap.Directory{Source: src, Mapper: newMapper(t), Log: zerolog.Nop(),
		Profiles: usermap.ProfileSource{DisplayName: true, AvatarAttribute: "avatar"}}
	got := d.Members(context.Background(), []string{"staff"})["staff"].Profiles
	want := map[id.UserID]plan.Profile{
		"@alice:example.org": {DisplayName: "Alice A", AvatarURL: "mxc://example.org/a"},
		"@bob:example.org":   {DisplayName: "Bob B", AvatarURL: "(not text)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profiles %v, want %v", got, want)
	}
}
