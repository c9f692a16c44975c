package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"authentik-matrix-sync/plan"
)

// change is one kind of change a step may make to the world, with its weight.
type change struct {
	weight int
	apply  func(r *run) bool // false when nothing fitted (no such user), so another is drawn
}

// changes are the directory changes of a schedule, and what users do in Matrix on their own.
var changes = []change{
	{24, (*run).addMember},
	{24, (*run).removeMember},
	{6, (*run).createUser},
	{5, (*run).deleteUser},
	{6, (*run).deactivate},
	{6, (*run).reactivate},
	{2, (*run).renameGroup},
	{2, (*run).renameBack},
	{1, (*run).deleteGroup},
	{1, (*run).recreateGroup},
	{2, (*run).emptyGroup},
	{10, (*run).acceptInvite},
	{3, (*run).leaveRoom},
	{4, (*run).signIn},
}

// changeWorld makes up to two changes.
func (r *run) changeWorld() {
	total := 0
	for _, c := range changes {
		total += c.weight
	}
	for n := r.rng.IntN(3); n > 0; {
		x := r.rng.IntN(total)
		for _, c := range changes {
			if x -= c.weight; x < 0 {
				if c.apply(r) {
					n--
				}
				break
			}
		}
	}
}

func pick[T any](r *run, xs []T) (T, bool) {
	if len(xs) == 0 {
		var zero T
		return zero, false
	}
	return xs[r.rng.IntN(len(xs))], true
}

func (r *run) addMember() bool {
	g, ok := pick(r, r.truth.ExistingGroups())
	if !ok {
		return false
	}
	members := r.truth.DirectMembers(g)
	var out []string
	for _, u := range r.truth.ExistingUsers() {
		if !slices.Contains(members, u) {
			out = append(out, u)
		}
	}
	u, ok := pick(r, out)
	if ok {
		r.truth.AddMember(g, u)
	}
	return ok
}

func (r *run) removeMember() bool {
	g, ok := pick(r, r.truth.ExistingGroups())
	if !ok {
		return false
	}
	u, ok := pick(r, r.truth.DirectMembers(g))
	if ok {
		r.truth.RemoveMember(g, u)
	}
	return ok
}

func (r *run) createUser() bool {
	existing := r.truth.ExistingUsers()
	var names []string
	for _, n := range append(slices.Clone(firstUsers), laterUsers...) {
		if !slices.Contains(existing, n) {
			names = append(names, n)
		}
	}
	name, ok := pick(r, names)
	if !ok {
		return false
	}
	r.truth.CreateUser(name, r.rng.IntN(10) != 0)
	if r.rng.IntN(10) < 7 {
		r.hs.CreateAccount(MatrixID(name))
		r.notef("matrix: %s has an account", MatrixID(name))
	}
	if g, ok := pick(r, r.truth.ExistingGroups()); ok && r.rng.IntN(10) < 6 {
		r.truth.AddMember(g, name)
	}
	return true
}

func (r *run) deleteUser() bool {
	u, ok := pick(r, r.truth.ExistingUsers())
	if ok {
		r.truth.DeleteUser(u)
	}
	return ok
}

func (r *run) usersActive(active bool) []string {
	s := r.truth.Now()
	var out []string
	for _, u := range r.truth.ExistingUsers() {
		if s.Accounts[u].Active == active {
			out = append(out, u)
		}
	}
	return out
}

func (r *run) deactivate() bool {
	u, ok := pick(r, r.usersActive(true))
	if ok {
		r.truth.SetActive(u, false)
	}
	return ok
}

func (r *run) reactivate() bool {
	u, ok := pick(r, r.usersActive(false))
	if ok {
		r.truth.SetActive(u, true)
	}
	return ok
}

const renamedSuffix = "-renamed"

func (r *run) renameGroup() bool {
	var can []string
	for _, g := range r.truth.ExistingGroups() {
		if !strings.HasSuffix(g, renamedSuffix) && !slices.Contains(r.truth.ExistingGroups(), g+renamedSuffix) {
			can = append(can, g)
		}
	}
	g, ok := pick(r, can)
	if ok {
		r.truth.RenameGroup(g, g+renamedSuffix)
	}
	return ok
}

func (r *run) renameBack() bool {
	var can []string
	existing := r.truth.ExistingGroups()
	for _, g := range existing {
		if base, renamed := strings.CutSuffix(g, renamedSuffix); renamed && !slices.Contains(existing, base) {
			can = append(can, g)
		}
	}
	g, ok := pick(r, can)
	if ok {
		r.truth.RenameGroup(g, strings.TrimSuffix(g, renamedSuffix))
	}
	return ok
}

func (r *run) deleteGroup() bool {
	g, ok := pick(r, r.truth.ExistingGroups())
	if ok {
		r.truth.DeleteGroup(g)
	}
	return ok
}

func (r *run) recreateGroup() bool {
	existing := r.truth.ExistingGroups()
	var can []string
	for _, g := range baseGroups {
		if !slices.Contains(existing, g) && !slices.Contains(existing, g+renamedSuffix) {
			can = append(can, g)
		}
	}
	g, ok := pick(r, can)
	if !ok {
		return false
	}
	parent := parentOf[g]
	if !slices.Contains(existing, parent) {
		parent = ""
	}
	r.truth.CreateGroup(g, parent)
	return true
}

func (r *run) emptyGroup() bool {
	var can []string
	for _, g := range r.truth.ExistingGroups() {
		if len(r.truth.DirectMembers(g)) > 0 {
			can = append(can, g)
		}
	}
	g, ok := pick(r, can)
	if ok {
		r.truth.EmptyGroup(g)
	}
	return ok
}

// withMembership lists the room and user pairs whose membership is one of memberships.
func (r *run) withMembership(memberships ...string) []plan.RoomUser {
	var out []plan.RoomUser
	for _, room := range r.p.Rooms() {
		for _, u := range r.hs.Members(room) {
			if u != bot && slices.Contains(memberships, r.hs.Member(room, u).Membership) {
				out = append(out, plan.RoomUser{Room: room, User: u})
			}
		}
	}
	return out
}

func (r *run) acceptInvite() bool {
	ru, ok := pick(r, r.withMembership(plan.MembershipInvite))
	if ok {
		r.hs.UserSets(ru.Room, ru.User, plan.MembershipJoin)
	}
	return ok
}

func (r *run) leaveRoom() bool {
	ru, ok := pick(r, r.withMembership(plan.MembershipJoin, plan.MembershipInvite))
	if ok {
		r.hs.UserSets(ru.Room, ru.User, plan.MembershipLeave)
	}
	return ok
}

func (r *run) signIn() bool {
	var can []string
	for _, u := range r.truth.ExistingUsers() {
		if !r.hs.HasAccount(MatrixID(u)) {
			can = append(can, u)
		}
	}
	u, ok := pick(r, can)
	if ok {
		r.hs.CreateAccount(MatrixID(u))
		r.notef("matrix: %s signs in for the first time: the account exists", MatrixID(u))
	}
	return ok
}

// checkLiveness checks, after the tail of calm cycles, what must hold once the bot had time to
// settle; each check leaves out what the bot rightly never does:
//   - every effective member of a room's groups with a Matrix account is in the room or invited,
//     unless they left it themselves;
//   - every member the bot tracks who is out of all of a room's groups is out of the room, unless
//     one of those groups does not exist (renamed or deleted: the bot then removes nobody there);
//   - no account is locked whose Authentik user exists and is active, unless that user is a new
//     account under a deleted one's username who is in no group: the bot locked the Matrix
//     account for the deleted one, and nothing tells it that the new one is the same person.
func (r *run) checkLiveness() {
	truth := r.truth.Now()
	p := r.procs[len(r.procs)-1]
	state, err := p.store.LoadState(context.Background())
	if err != nil {
		r.fail(fmt.Sprintf("liveness: the state cannot be read: %v", err))
		return
	}
	for _, room := range r.p.Rooms() {
		groups := r.p.GroupsOf(room)
		allExist := true
		for _, g := range groups {
			if _, ok := truth.Groups[g]; !ok {
				allExist = false
			}
		}
		for name, acc := range truth.Accounts {
			u := MatrixID(name)
			mem := r.hs.Member(room, u)
			_, in := truth.InAny(groups, name)
			switch {
			case in && acc.Active && r.hs.HasAccount(u):
				if mem.Membership == plan.MembershipJoin || mem.Membership == plan.MembershipInvite ||
					(mem.Membership == plan.MembershipLeave && mem.Sender == u) {
					continue
				}
				r.fail(fmt.Sprintf("LIVENESS: %s is in %s in truth but its membership in %s is %q (set by %s)",
					u, strings.Join(groups, "/"), room, mem.Membership, mem.Sender))
			case !in && allExist && (mem.Membership == plan.MembershipJoin || mem.Membership == plan.MembershipInvite):
				if _, tracked := state.Members.Lookup(plan.RoomUser{Room: room, User: u}); tracked {
					r.fail(fmt.Sprintf("LIVENESS: %s is out of %s in truth but still %s in %s", u, strings.Join(groups, ", "), mem.Membership, room))
				}
			}
		}
	}
	for _, u := range r.hs.Locked() {
		name := usernameOf(u)
		_, inGroup := truth.InAny(slices.Collect(maps.Keys(truth.Groups)), name)
		if acc := truth.Accounts[name]; acc.Exists && acc.Active && (inGroup || !r.truth.Recreated(name)) {
			r.fail(fmt.Sprintf("LIVENESS: %s is locked though its Authentik account exists and is active", u))
		}
	}
	if !r.failed() {
		r.notef("liveness: rooms and accounts agree with the truth")
	}
}
