package doctor

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// MappedUsers gives the doctor the Matrix IDs the mappings lead to, as the sync maps them.
type MappedUsers interface {
	// MatrixIDs returns the Matrix IDs of the members of groups, each once.
	MatrixIDs(ctx context.Context, groups []string) ([]string, error)
	// Exists reports whether the homeserver has a local account for user.
	Exists(ctx context.Context, user string) (bool, error)
}

// usersChecked bounds the accounts the doctor looks up: enough to tell a template that matches
// nobody from a directory of users who have not signed in yet.
const usersChecked = 20

const usersCheck = "Mapped Matrix IDs"

// checkMappedUsers warns when the mappings lead nowhere useful: no member at all, IDs on a server
// other than the homeserver's (a copied user_mapping.server), or none of the first IDs with an
// account on the homeserver (a template that does not match how accounts are named). It never
// fails the run: a new directory whose users have not signed in yet looks the same.
func checkMappedUsers(ctx context.Context, in Input) []Result {
	if in.Users == nil || len(in.Groups) == 0 {
		return nil
	}
	ids, err := in.Users.MatrixIDs(ctx, in.Groups)
	if err != nil {
		return []Result{{Check: usersCheck, Outcome: Skipped, Detail: "the mapped groups could not be read: " + err.Error()}}
	}
	if len(ids) == 0 {
		return []Result{{Check: usersCheck, Outcome: Warn, Detail: "no member of the mapped groups maps to a Matrix ID: nobody will be added",
			Hint: "add members to the groups in Authentik, or check user_mapping (template, attribute)"}}
	}
	slices.Sort(ids)
	var elsewhere, local []string
	for _, u := range ids {
		if _, server, _ := strings.Cut(u, ":"); server != in.ServerName {
			elsewhere = append(elsewhere, u)
		} else {
			local = append(local, u)
		}
	}
	if len(elsewhere) > 0 {
		return []Result{{Check: usersCheck, Outcome: Warn,
			Detail: fmt.Sprintf("%d of %d mapped Matrix IDs are not on %s (e.g. %s): the bot cannot add them", len(elsewhere), len(ids), in.ServerName, elsewhere[0]),
			Hint:   "leave user_mapping.server unset (it defaults to homeserver.domain) or set it to " + in.ServerName + "; check user_mapping.template"}}
	}
	checked, found := 0, 0
	for _, u := range local[:min(len(local), usersChecked)] {
		ok, err := in.Users.Exists(ctx, u)
		if err != nil {
			continue
		}
		checked++
		if ok {
			found++
		}
	}
	if checked == 0 {
		return []Result{{Check: usersCheck, Outcome: Skipped, Detail: "no account could be looked up on the homeserver (see the lines above)"}}
	}
	if found == 0 {
		return []Result{{Check: usersCheck, Outcome: Warn,
			Detail: fmt.Sprintf("none of the %d mapped users looked up has an account on the homeserver (e.g. %s)", checked, local[0]),
			Hint:   "users appear once they sign in to Matrix; if they have, the Matrix IDs are built wrongly: check user_mapping.template against an existing account"}}
	}
	return []Result{{Check: usersCheck, Outcome: Pass,
		Detail: fmt.Sprintf("%d mapped users on %s; %d of the %d looked up have an account", len(ids), in.ServerName, found, checked)}}
}
