package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/usermap"
)

// person is a seed user as the table shows them.
type person struct {
	Username  string    // in Authentik
	UserID    id.UserID // what the bot maps them to
	Inactive  bool
	NoAccount bool
}

// createdRoom is a demo room once Synapse has it.
type createdRoom struct {
	demoRoom
	ID id.RoomID
}

// prepareMatrix registers the appservice's bot account (so rooms can invite it before the bot
// first runs, as an operator would) and gives the harness's admin the demo password, so the
// newcomer can log in as the rooms' creator. It returns the bot, acting with the as_token.
func prepareMatrix(ctx context.Context, hs *harness.Synapse, registrationPath string) (harness.User, error) {
	data, err := os.ReadFile(registrationPath)
	if err != nil {
		return harness.User{}, fmt.Errorf("read the appservice registration: %w", err)
	}
	var reg struct {
		ASToken string `yaml:"as_token"`
	}
	if err := yaml.Unmarshal(data, &reg); err != nil || reg.ASToken == "" {
		return harness.User{}, fmt.Errorf("appservice registration %s has no as_token (%v): the bot's -g wrote something unexpected", registrationPath, err)
	}
	asClient, err := mautrix.NewClient(hs.URL, "", reg.ASToken)
	if err != nil {
		return harness.User{}, fmt.Errorf("matrix client for %s: %w", hs.URL, err)
	}
	_, _, err = asClient.Register(ctx, &mautrix.ReqRegister[any]{Username: botUsername, Type: mautrix.AuthTypeAppservice, InhibitLogin: true})
	if err != nil && !errors.Is(err, mautrix.MUserInUse) {
		return harness.User{}, fmt.Errorf("register the appservice bot @%s: %w", botUsername, err)
	}

	adminClient, err := mautrix.NewClient(hs.URL, hs.AdminID, hs.AdminToken)
	if err != nil {
		return harness.User{}, fmt.Errorf("matrix client for %s: %w", hs.URL, err)
	}
	admin := synapseadmin.Client{Client: adminClient}
	// LogoutDevices false: the harness keeps using the admin's token to read the rooms.
	if err := admin.ResetPassword(ctx, synapseadmin.ReqResetPassword{UserID: hs.AdminID, NewPassword: password}); err != nil {
		return harness.User{}, fmt.Errorf("set the password of %s: %w", hs.AdminID, err)
	}
	return harness.User{ID: id.NewUserID(botUsername, serverName), Token: reg.ASToken}, nil
}

// registerPeople maps every seed user with the bot's own mapper and registers their accounts,
// except noAccountUser's. Inactive users get an account too: the table then shows that the bot
// leaves them out because Authentik says so, not because they cannot sign in.
func registerPeople(ctx context.Context, hs *harness.Synapse, fake *authentiktest.Server, seed authentiktest.Seed) ([]person, error) {
	mapper, err := usermap.New(mappingTemplate, mappingAttribute, serverName)
	if err != nil {
		return nil, fmt.Errorf("user mapping: %w", err)
	}
	people := make([]person, 0, len(seed.Users))
	for _, su := range seed.Users {
		u, ok := fake.User(su.Username)
		if !ok {
			return nil, fmt.Errorf("seed user %q is missing from the fake Authentik", su.Username)
		}
		uid, err := mapper.Map(usermap.Identity{PK: u.PK, Username: u.Username, Email: u.Email, UID: u.UID, Attributes: u.Attributes})
		if err != nil {
			return nil, fmt.Errorf("map seed user %q: %w", su.Username, err)
		}
		p := person{Username: u.Username, UserID: uid, Inactive: !u.IsActive, NoAccount: u.Username == noAccountUser}
		people = append(people, p)
		if p.NoAccount {
			continue
		}
		localpart, server, err := uid.Parse()
		if err != nil || server != serverName {
			return nil, fmt.Errorf("seed user %q maps to %s, not a user of %s: fix %s", su.Username, uid, serverName, seedPath)
		}
		if _, err := hs.RegisterUser(ctx, localpart, password, false); err != nil {
			return nil, err
		}
	}
	return people, nil
}

func countAccounts(people []person) int {
	n := 0
	for _, p := range people {
		if !p.NoAccount {
			n++
		}
	}
	return n
}

// createRooms creates the rooms as the admin and puts the bot in each with power level 100, as an
// operator does before mapping a room.
func createRooms(ctx context.Context, hs *harness.Synapse, bot harness.User, rooms []demoRoom) ([]createdRoom, error) {
	created := make([]createdRoom, 0, len(rooms))
	for _, r := range rooms {
		roomID, err := hs.CreateRoom(ctx, hs.Admin(), harness.RoomOptions{Name: r.Name, Alias: r.Alias, Space: r.Space,
			Invite: []id.UserID{bot.ID}, PowerLevelUsers: map[id.UserID]int{bot.ID: 100}})
		if err != nil {
			return nil, err
		}
		if err := hs.Join(ctx, bot, roomID); err != nil {
			return nil, fmt.Errorf("the bot joins %s: %w", r.Name, err)
		}
		created = append(created, createdRoom{demoRoom: r, ID: roomID})
	}
	return created, nil
}

func roomList(rooms []createdRoom) string {
	names := make([]string, len(rooms))
	for i, r := range rooms {
		kind := "room"
		if r.Space {
			kind = "space"
		}
		names[i] = fmt.Sprintf("%s (%s #%s:%s)", r.Name, kind, r.Alias, serverName)
	}
	return strings.Join(names, ", ")
}

// membershipTable reads every room's memberships as Synapse holds them and renders the table.
func membershipTable(ctx context.Context, hs *harness.Synapse, rooms []createdRoom, people []person) (string, error) {
	states := make([]map[id.UserID]harness.Membership, len(rooms))
	names := make([]string, len(rooms))
	for i, r := range rooms {
		ms, err := hs.Memberships(ctx, r.ID)
		if err != nil {
			return "", err
		}
		states[i], names[i] = ms, r.Name
	}
	hidden := map[id.UserID]bool{hs.AdminID: true, id.NewUserID(botUsername, serverName): true}
	return renderTable(names, people, states, hidden), nil
}
