package main

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"
)

// memberKey is one user in one group; each group maps to one room.
type memberKey struct {
	Group, User string
}

// outInterval is a stretch of time during which a user was out of a group after having been in
// it; To is zero while it lasts.
type outInterval struct {
	From, To time.Time
}

// oracle knows, from the changes the soak made to the directory, who must be in each room and
// who is due for removal, and judges every removal the bot made. It holds no Matrix state.
//
// A polling bot sees the directory only when it reads it: a user taken out of a group and put
// back between two reads never left, as far as it can know. So a removal is judged against the
// bot's reads of the group (observations): it is right when the user was out at every read from
// some read on, and that first read lies a grace period or more before the removal.
type oracle struct {
	grace time.Duration
	// slack covers the time between the start of a cycle (from which the bot counts the grace
	// period) and its read of the group.
	slack time.Duration

	in  map[memberKey]bool
	out map[memberKey][]outInterval
}

func newOracle(grace, slack time.Duration) *oracle {
	return &oracle{grace: grace, slack: slack, in: map[memberKey]bool{}, out: map[memberKey][]outInterval{}}
}

// Add puts user in group at the given time.
func (o *oracle) Add(group, user string, at time.Time) {
	k := memberKey{group, user}
	if o.in[k] {
		return
	}
	o.in[k] = true
	if iv := o.out[k]; len(iv) > 0 && iv[len(iv)-1].To.IsZero() {
		iv[len(iv)-1].To = at
	}
}

// Remove takes user out of group at the given time.
func (o *oracle) Remove(group, user string, at time.Time) {
	k := memberKey{group, user}
	if !o.in[k] {
		return
	}
	delete(o.in, k)
	o.out[k] = append(o.out[k], outInterval{From: at})
}

// In reports whether user is in group now.
func (o *oracle) In(group, user string) bool { return o.in[memberKey{group, user}] }

// Members lists the group's members now, sorted.
func (o *oracle) Members(group string) []string {
	var out []string
	for k := range o.in {
		if k.Group == group {
			out = append(out, k.User)
		}
	}
	slices.Sort(out)
	return out
}

// outAt reports whether user, once a member, was out of group at the given time.
func (o *oracle) outAt(k memberKey, at time.Time) bool {
	for _, iv := range o.out[k] {
		if !iv.From.After(at) && (iv.To.IsZero() || at.Before(iv.To)) {
			return true
		}
	}
	return false
}

// Justified reports whether removing user from group's room at the given time was right, given
// the times the bot read the group (sorted): at its last read before the removal the user was
// out, and so at every read back to one at least a grace period before the removal.
func (o *oracle) Justified(group, user string, at time.Time, reads []time.Time) bool {
	k := memberKey{group, user}
	last := sort.Search(len(reads), func(i int) bool { return !reads[i].Before(at) }) - 1
	for i := last; i >= 0 && o.outAt(k, reads[i]); i-- {
		if !reads[i].Add(o.grace).After(at.Add(o.slack)) {
			return true
		}
	}
	return false
}

// Due lists the users who left a group and stayed out long enough that, by the given time, the
// bot must have removed them: out since at least grace plus settle ago.
func (o *oracle) Due(at time.Time, settle time.Duration) []memberKey {
	var out []memberKey
	for k, ivs := range o.out {
		last := ivs[len(ivs)-1]
		if last.To.IsZero() && !last.From.Add(o.grace+settle).After(at) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b memberKey) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.User, b.User))
	})
	return out
}

// describe tells why a removal was judged wrong: the user's times out of the group and the
// bot's last reads of it before the removal.
func (o *oracle) describe(group, user string, at time.Time, reads []time.Time) string {
	var parts []string
	for _, iv := range o.out[memberKey{group, user}] {
		to := "now"
		if !iv.To.IsZero() {
			to = iv.To.UTC().Format("15:04:05.000")
		}
		parts = append(parts, "out "+iv.From.UTC().Format("15:04:05.000")+"–"+to)
	}
	last := sort.Search(len(reads), func(i int) bool { return !reads[i].Before(at) })
	var seen []string
	for _, r := range reads[max(0, last-4):last] {
		state := "in"
		if o.outAt(memberKey{group, user}, r) {
			state = "out"
		}
		seen = append(seen, r.UTC().Format("15:04:05.000")+" "+state)
	}
	if len(parts) == 0 {
		parts = append(parts, "never out of the group")
	}
	return strings.Join(parts, ", ") + "; last reads: " + strings.Join(seen, ", ")
}
