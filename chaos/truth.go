package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
)

// Domain is the Matrix server name of every user in a run; the bot maps users with the default
// template, so Authentik user "ann" is @ann:example.org.
const Domain = "example.org"

// MatrixID is the Matrix ID the bot gives an Authentik username.
func MatrixID(username string) id.UserID { return id.UserID("@" + username + ":" + Domain) }

// usernameOf is the Authentik username behind a Matrix ID of the run.
func usernameOf(u id.UserID) string {
	name, _ := strings.CutSuffix(strings.TrimPrefix(string(u), "@"), ":"+Domain)
	return name
}

// AccountState is what Authentik holds of one username at one moment.
type AccountState struct {
	Exists, Active bool
}

// Snapshot is the directory's truth from one moment on, until the next snapshot.
type Snapshot struct {
	At time.Time
	// Why is the change that led to it, for the step log.
	Why string
	// Groups holds every existing group by name, with its effective members: active users in it
	// or in a group below it, as Authentik counts them.
	Groups   map[string]map[string]bool
	Accounts map[string]AccountState
	// Below holds every existing group by name with the names of itself and the groups under
	// it: the groups whose answers make up its effective members.
	Below map[string][]string
}

// Answer is what one answer of Authentik said of a group's direct members.
type Answer struct {
	// Seq is the number of snapshots taken when it was served: it showed the truth of
	// history[Seq-1], unless it lied.
	Seq    int
	At     time.Time
	Group  string
	Listed map[string]bool // usernames
	// Hidden are the direct members the fake held but the answer left out: a consistent answer
	// that is wrong this once, which no bot can tell from a removal.
	Hidden []string
	// Lost is set when the process it was served to was killed in that cycle.
	Lost bool
}

// InAny reports whether user is an effective member of any of groups.
func (s Snapshot) InAny(groups []string, user string) (string, bool) {
	for _, g := range groups {
		if s.Groups[g][user] {
			return g, true
		}
	}
	return "", false
}

// Truth is the reference model's knowledge of the directory: every change made to the fake
// Authentik goes through it, so it holds the whole history of what was true when. The fake's
// data is the truth; Truth only remembers it over time.
type Truth struct {
	mu    sync.Mutex
	fake  *authentiktest.Server
	clock *Clock
	note  func(string)
	users []string // every username ever created
	// recreated holds the usernames created again after a deletion: a new account behind an
	// old Matrix ID.
	recreated map[string]bool
	groups    []string // every group name ever used
	history   []Snapshot
	answers   []Answer
}

// Answers is how many answers were recorded so far.
func (t *Truth) Answers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.answers)
}

// LoseAnswers marks the answers recorded from the nth on as lost: the process they were served
// to was killed before the cycle ended, and what it learned from them died with it.
func (t *Truth) LoseAnswers(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := n; i < len(t.answers); i++ {
		t.answers[i].Lost = true
	}
}

// RecordAnswer notes that an answer of Authentik listed pks as group's direct members.
func (t *Truth) RecordAnswer(group string, pks []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := Answer{Seq: len(t.history), At: t.clock.Now(), Group: group, Listed: map[string]bool{}}
	for _, name := range t.namesLocked(pks) {
		a.Listed[name] = true
	}
	if g, ok := t.fake.Group(group); ok {
		for _, name := range t.namesLocked(g.Members) {
			if !a.Listed[name] {
				a.Hidden = append(a.Hidden, name)
			}
		}
	}
	t.answers = append(t.answers, a)
}

// NewTruth follows the directory of fake.
func NewTruth(fake *authentiktest.Server, clock *Clock, note func(string)) *Truth {
	return &Truth{fake: fake, clock: clock, note: note}
}

// change applies one change to the fake and records the truth after it.
func (t *Truth) change(why string, do func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	do()
	t.recordLocked(why)
	t.note("truth: " + why)
}

func (t *Truth) knowUser(name string) {
	if slices.Contains(t.users, name) {
		if t.recreated == nil {
			t.recreated = map[string]bool{}
		}
		t.recreated[name] = true
		return
	}
	t.users = append(t.users, name)
}

// Recreated reports whether username was created again after it was deleted.
func (t *Truth) Recreated(username string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recreated[username]
}

func (t *Truth) knowGroup(name string) {
	if !slices.Contains(t.groups, name) {
		t.groups = append(t.groups, name)
	}
}

// CreateUser adds an Authentik user.
func (t *Truth) CreateUser(name string, active bool) {
	t.change(fmt.Sprintf("create user %s%s", name, map[bool]string{false: " (inactive)"}[active]), func() {
		t.knowUser(name)
		t.fake.AddUser(name, authentiktest.WithActive(active))
	})
}

// DeleteUser deletes an Authentik user and their memberships.
func (t *Truth) DeleteUser(name string) {
	t.change("delete user "+name, func() { t.fake.DeleteUser(name) })
}

// SetActive deactivates or reactivates a user.
func (t *Truth) SetActive(name string, active bool) {
	t.change(map[bool]string{true: "reactivate ", false: "deactivate "}[active]+name, func() { t.fake.SetActive(name, active) })
}

// AddMember makes user a direct member of group.
func (t *Truth) AddMember(group, user string) {
	t.change(fmt.Sprintf("add %s to %s", user, group), func() { t.fake.AddMembers(group, user) })
}

// RemoveMember takes user out of the direct members of group.
func (t *Truth) RemoveMember(group, user string) {
	t.change(fmt.Sprintf("remove %s from %s", user, group), func() { t.fake.RemoveMembers(group, user) })
}

// EmptyGroup removes every direct member of group.
func (t *Truth) EmptyGroup(group string) {
	t.change("empty group "+group, func() {
		if g, ok := t.fake.Group(group); ok {
			t.fake.RemoveMembers(group, t.namesLocked(g.Members)...)
		}
	})
}

// CreateGroup adds an empty group below parent ("" for none).
func (t *Truth) CreateGroup(name, parent string) {
	why := "create group " + name
	if parent != "" {
		why += " below " + parent
	}
	t.change(why, func() {
		t.knowGroup(name)
		t.fake.AddGroup(name, parent)
	})
}

// DeleteGroup deletes a group; its subgroups stay, without it as a parent.
func (t *Truth) DeleteGroup(name string) {
	t.change("delete group "+name, func() { t.fake.DeleteGroup(name) })
}

// RenameGroup gives a group a new name. The fake cannot rename, so the group is made again
// under the new name with the same members, parents and subgroups, and the old one deleted: to
// the bot, as after a rename, the mapped name no longer exists.
func (t *Truth) RenameGroup(oldName, newName string) {
	t.change(fmt.Sprintf("rename group %s to %s", oldName, newName), func() {
		t.knowGroup(newName)
		old, ok := t.fake.Group(oldName)
		if !ok {
			return
		}
		byPK := t.groupsByPKLocked()
		t.fake.AddGroup(newName, "")
		var parents []string
		for _, p := range old.Parents {
			parents = append(parents, byPK[p].Name)
		}
		t.fake.SetParents(newName, parents...)
		if len(old.Members) > 0 {
			t.fake.AddMembers(newName, t.namesLocked(old.Members)...)
		}
		for _, g := range byPK {
			if slices.Contains(g.Parents, old.PK) {
				var ps []string
				for _, p := range g.Parents {
					name := byPK[p].Name
					if p == old.PK {
						name = newName
					}
					ps = append(ps, name)
				}
				t.fake.SetParents(g.Name, ps...)
			}
		}
		t.fake.DeleteGroup(oldName)
	})
}

// ShiftListing is the concurrent change that shifts a listing read page by page: deleted is
// deleted and created made (inactive, or added to group, so that the listing being read counts
// it), both between two page reads. The total stays the same.
func (t *Truth) ShiftListing(deleted, created string, active bool, group string) {
	why := fmt.Sprintf("during a listing, delete user %s and create user %s", deleted, created)
	if group != "" {
		why += " in " + group
	}
	if !active {
		why += " (inactive)"
	}
	t.change(why, func() {
		t.fake.DeleteUser(deleted)
		t.knowUser(created)
		t.fake.AddUser(created, authentiktest.WithActive(active))
		if group != "" {
			t.fake.AddMembers(group, created)
		}
	})
}

// ShiftGroupListing is ShiftListing for the listing of groups: deleted is deleted and created
// made, an empty group, between two page reads.
func (t *Truth) ShiftGroupListing(deleted, created string) {
	t.change(fmt.Sprintf("during a listing, delete group %s and create group %s", deleted, created), func() {
		t.fake.DeleteGroup(deleted)
		t.knowGroup(created)
		t.fake.AddGroup(created, "")
	})
}

// GroupNameOf names the group with primary key pk, "" if there is none.
func (t *Truth) GroupNameOf(pk string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.groupsByPKLocked()[pk].Name
}

// Record takes the first snapshot, of the directory as loaded.
func (t *Truth) Record(why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recordLocked(why)
}

func (t *Truth) groupsByPKLocked() map[string]authentiktest.Group {
	out := map[string]authentiktest.Group{}
	for _, name := range t.groups {
		if g, ok := t.fake.Group(name); ok {
			out[g.PK] = g
		}
	}
	return out
}

func (t *Truth) namesLocked(pks []int) []string {
	var out []string
	for _, name := range t.users {
		if u, ok := t.fake.User(name); ok && slices.Contains(pks, u.PK) {
			out = append(out, name)
		}
	}
	return out
}

func (t *Truth) recordLocked(why string) {
	s := Snapshot{At: t.clock.Now(), Why: why, Groups: map[string]map[string]bool{}, Accounts: map[string]AccountState{},
		Below: map[string][]string{}}
	byPK := map[int]authentiktest.User{}
	for _, name := range t.users {
		u, ok := t.fake.User(name)
		s.Accounts[name] = AccountState{Exists: ok, Active: ok && u.IsActive}
		if ok {
			byPK[u.PK] = u
		}
	}
	groups := t.groupsByPKLocked()
	children := map[string][]string{}
	for pk, g := range groups {
		for _, p := range g.Parents {
			children[p] = append(children[p], pk)
		}
	}
	for pk, g := range groups {
		members := map[string]bool{}
		seen := map[string]bool{pk: true}
		level := []string{pk}
		// Authentik inherits membership down to 20 levels; the run's trees are far smaller.
		for depth := 0; depth <= 20 && len(level) > 0; depth++ {
			var next []string
			for _, gpk := range level {
				for _, upk := range groups[gpk].Members {
					if u, ok := byPK[upk]; ok && u.IsActive {
						members[u.Username] = true
					}
				}
				for _, c := range children[gpk] {
					if !seen[c] {
						seen[c] = true
						next = append(next, c)
					}
				}
			}
			level = next
		}
		s.Groups[g.Name] = members
		for b := range seen {
			s.Below[g.Name] = append(s.Below[g.Name], groups[b].Name)
		}
	}
	t.history = append(t.history, s)
}

// Now is the latest snapshot: the truth at this moment.
func (t *Truth) Now() Snapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.history[len(t.history)-1]
}

// ExistingUsers lists the usernames Authentik holds now, sorted.
func (t *Truth) ExistingUsers() []string {
	s := t.Now()
	var out []string
	for name, a := range s.Accounts {
		if a.Exists {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ExistingGroups lists the group names Authentik holds now, sorted.
func (t *Truth) ExistingGroups() []string {
	return slices.Sorted(maps.Keys(t.Now().Groups))
}

// DirectMembers lists the direct members of group, sorted.
func (t *Truth) DirectMembers(group string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.fake.Group(group)
	if !ok {
		return nil
	}
	names := t.namesLocked(g.Members)
	slices.Sort(names)
	return names
}

// Verdict is the model's judgement of one removal or account action.
type Verdict struct {
	Allowed bool
	// Why says which rule allowed it, or how each rule was broken.
	Why string
}

// JudgeRemoval applies the safety rule to the removal of user from a room mapped to groups at
// at: (a) the user was out of every one of groups for the whole grace period before it, in truth
// or, from an answer that left them out and no answer after it listing them, as far as Authentik
// said, or (b) with deactivated users removed at once, the account was deleted or deactivated
// at that moment.
//
// The virtual clock stands still during a cycle, so the cycle's start, its reads and its writes
// share one instant: the slack between a cycle's start and its reads is zero, and the changes
// made at that instant count in the order they were made (the latest one is in force at the
// removal).
func (t *Truth) JudgeRemoval(groups []string, user string, at time.Time, grace time.Duration, atOnce bool) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	ruleA := ""
	for _, g := range groups {
		if ruleA = t.outForLocked(g, user, at, at.Add(-grace), grace); ruleA != "" {
			break
		}
	}
	if ruleA == "" {
		return Verdict{Allowed: true, Why: fmt.Sprintf("(a) out of %s for the grace period", strings.Join(groups, ", "))}
	}
	acc := t.history[len(t.history)-1].Accounts[user]
	switch {
	case atOnce && !acc.Exists:
		return Verdict{Allowed: true, Why: "(b) the account is deleted"}
	case atOnce && !acc.Active:
		return Verdict{Allowed: true, Why: "(b) the account is deactivated"}
	case atOnce:
		return Verdict{Why: ruleA + "; (b) the account exists and is active"}
	}
	return Verdict{Why: ruleA + "; (b) does not apply: deactivated users take the grace period"}
}

// unseenLocked reports whether snapshot i held for no time at all (the next change came at the
// same instant) and no answer was served while it held: no one could have seen it.
func (t *Truth) unseenLocked(i int) bool {
	if i+1 >= len(t.history) || t.history[i+1].At.After(t.history[i].At) {
		return false
	}
	for _, a := range t.answers {
		if a.Seq-1 == i {
			return false
		}
	}
	return true
}

// outForLocked says how user was not out of group g since from, "" if they were: out in
// truth, or told out by an answer that left them out (a lie no bot can tell from a removal)
// with no answer listing them after it.
func (t *Truth) outForLocked(g, user string, at, from time.Time, grace time.Duration) string {
	last := -1 // the latest snapshot, up to at, with user in g
	for i := len(t.history) - 1; i >= 0; i-- {
		s := t.history[i]
		if s.At.After(at) {
			continue
		}
		if s.Groups[g][user] && !t.unseenLocked(i) {
			last = i
			break
		}
		if !s.At.After(from) {
			return ""
		}
		if i == 0 {
			return fmt.Sprintf("(a) %s was not out of %s for the grace period of %s: the run began less than that before", user, g, grace)
		}
	}
	s := t.history[last]
	in := fmt.Sprintf("(a) in truth %s was in group %s at %s (%s), less than the grace period of %s before the removal",
		user, g, t.clock.Since(s.At), s.Why, grace)
	// In truth user was in g too recently; the removal is still the bot's best if answers that
	// left them out (lies no bot can tell from the truth) hid them for the whole grace period:
	// from the earliest answer of the latest run that did not list them, back to the last
	// answer that did.
	var run *Answer
	for j := len(t.answers) - 1; j >= 0; j-- {
		a := t.answers[j]
		if a.Seq-1 > last || a.Lost || !slices.Contains(s.Below[g], a.Group) {
			continue
		}
		if a.Listed[user] {
			break
		}
		if !slices.Contains(a.Hidden, user) {
			continue
		}
		// The lie made user look out of g only if a.Group was their one way into it.
		for _, h := range s.Below[g] {
			if s.Groups[h][user] && !slices.Contains(s.Below[h], a.Group) {
				return in
			}
		}
		run = &t.answers[j]
	}
	switch {
	case run == nil:
		return in
	case run.At.After(from):
		return in + fmt.Sprintf("; an answer left them out of %s at %s, also less than the grace period before", run.Group, t.clock.Since(run.At))
	}
	return ""
}

// JudgeAccountAction applies the safety rule to a lock or logout of user: (b) the account was
// deleted or deactivated in Authentik at that moment.
func (t *Truth) JudgeAccountAction(user string) Verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	acc := t.history[len(t.history)-1].Accounts[user]
	switch {
	case !acc.Exists:
		return Verdict{Allowed: true, Why: "(b) the account is deleted"}
	case !acc.Active:
		return Verdict{Allowed: true, Why: "(b) the account is deactivated"}
	}
	return Verdict{Why: fmt.Sprintf("(b) in truth %s exists and is active in Authentik", user)}
}
