package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
)

// seedPath is the directory the demo starts with, shared with cmd/fake-authentik.
const seedPath = "cmd/fake-authentik/demo-seed.json"

// readSeed reads the demo seed and moves its Matrix ID attributes onto the demo's server; the
// returned notes say what was moved.
func readSeed(root string) (authentiktest.Seed, []string, error) {
	path := filepath.Join(root, seedPath)
	var seed authentiktest.Seed
	data, err := os.ReadFile(path)
	if err != nil {
		return seed, nil, fmt.Errorf("read the demo seed: %w", err)
	}
	if err := json.Unmarshal(data, &seed); err != nil {
		return seed, nil, fmt.Errorf("demo seed %s is not a {\"users\":[…],\"groups\":[…]} document: %w", path, err)
	}
	seed, notes := localizeMatrixIDs(seed, mappingAttribute, serverName)
	return seed, notes, nil
}

// localizeMatrixIDs puts every Matrix ID held in the attribute on the given server. The seed
// names IDs on a real-looking server (carol's @carol.chen:example.org), and an appservice acts
// only for users of its own homeserver: left as they are, such users would fail every cycle
// instead of showing how the attribute overrides the username.
func localizeMatrixIDs(seed authentiktest.Seed, attribute, server string) (authentiktest.Seed, []string) {
	var notes []string
	users := make([]authentiktest.SeedUser, len(seed.Users))
	for i, u := range seed.Users {
		users[i] = u
		raw, _ := u.Attributes[attribute].(string)
		localpart, userServer, err := id.UserID(raw).Parse()
		if raw == "" || err != nil || userServer == server {
			continue
		}
		local := id.NewUserID(localpart, server)
		users[i].Attributes = maps.Clone(u.Attributes)
		users[i].Attributes[attribute] = string(local)
		notes = append(notes, fmt.Sprintf("The seed gives %s the %s %s; the demo's homeserver is %s, so it becomes %s.",
			u.Username, attribute, raw, server, local))
	}
	seed.Users = users
	return seed, notes
}

// removeMember takes a user out of a group through the fake's control API, the way the printed
// curl example does, rather than through its Go methods.
func removeMember(ctx context.Context, akURL, group, username string) error {
	body, err := json.Marshal(map[string][]string{"remove": {username}})
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", username, group, err)
	}
	url := akURL + "/_fake/groups/" + group + "/members"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("remove %s from %s: %w", username, group, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("remove %s from %s via %s: %w", username, group, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("remove %s from %s via %s: %s: %s", username, group, url, resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}
