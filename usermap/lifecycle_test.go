package usermap_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik"
	syncer "authentik-matrix-sync/sync"
	"authentik-matrix-sync/usermap"
)

// userSource is a source that also lists users outside groups.
type userSource struct {
	source
	inactive, all []authentik.User
	err           error
}

func (s userSource) ListInactiveUsers(context.Context) ([]authentik.User, error) {
	return s.inactive, s.err
}
func (s userSource) ListUsers(context.Context) ([]authentik.User, error) { return s.all, s.err }

func newMapper(t *testing.T) *usermap.Mapper {
	t.Helper()
	m, err := usermap.New("@{username}:{server}", "matrix_id", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInactiveUsersAreMappedLikeGroupMembers(t *testing.T) {
	src := userSource{inactive: []authentik.User{
		{PK: 1, Username: "Alice"},
		{PK: 2, Username: "bob", Attributes: map[string]any{"matrix_id": "@robert:example.org"}},
		{PK: 3, Username: "broken", Attributes: map[string]any{"matrix_id": "not an id"}},
	}}
	d := &usermap.Directory{Source: src, Mapper: newMapper(t), Log: zerolog.Nop()}
	got, err := d.InactiveUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[id.UserID]string{"@alice:example.org": "Alice", "@robert:example.org": "bob"}
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

func TestAccountStatusesTellDeletedFromLeft(t *testing.T) {
	src := userSource{all: []authentik.User{
		{PK: 1, Username: "alice", IsActive: true},
		{PK: 2, Username: "bob", IsActive: false},
	}}
	d := &usermap.Directory{Source: src, Mapper: newMapper(t), Log: zerolog.Nop()}
	got, err := d.AccountStatuses(context.Background(), []id.UserID{"@alice:example.org", "@bob:example.org", "@carol:example.org"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[id.UserID]syncer.AccountStatus{"@alice:example.org": syncer.AccountActive, "@bob:example.org": syncer.AccountInactive,
		"@carol:example.org": syncer.AccountGone}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	// One user whose ID cannot be worked out might be carol: nobody is taken for deleted.
	src.all = append(src.all, authentik.User{PK: 3, Username: "x", IsActive: true, Attributes: map[string]any{"matrix_id": "nonsense"}})
	d.Source = src
	if got, err := d.AccountStatuses(context.Background(), []id.UserID{"@carol:example.org"}); err == nil {
		t.Errorf("an incomplete mapping gave %v and no error", got)
	}
}

func TestProfilesAreReadFromGroupListingsOnlyWhenSynced(t *testing.T) {
	src := source{"staff": {Users: []authentik.User{
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
	want := map[id.UserID]syncer.Profile{
		"@alice:example.org": {DisplayName: "Alice A", AvatarURL: "mxc://example.org/a"},
		"@bob:example.org":   {DisplayName: "Bob B", AvatarURL: "(not text)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("profiles %v, want %v", got, want)
	}
}
