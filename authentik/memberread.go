package authentik

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"authentik-matrix-sync/directory"
)

// MemberRead is how the client reads the direct members of groups.
//
// Every way reads a group's members whole, in one JSON object (users_obj), except the user
// listing: there a user created and another deleted while the pages are read can shift a member
// from one page to the next unseen, which only the count check catches.
//
// All releases the client supports (2024.2 and later) take include_users on core/groups/, list
// and retrieval alike, default true, and fill users_obj with the same fields (pk, username,
// name, is_active, last_login, email, attributes, uid): before 2025.12 through their
// GroupMemberSerializer, since then through PartialUserSerializer. With include_users=false
// they write users_obj as null and keep "users", the member pks, which is what chooseMemberRead
// counts. Releases before 2024.2 ignore include_users and always fill users_obj: the member
// reads still work there, only the group tree costs as much as the listing with members.
type MemberRead int

const (
	// MemberReadAuto reads members the way that costs Authentik less for the groups asked
	// for, judged from the member counts in the group listing (see chooseMemberRead).
	MemberReadAuto MemberRead = iota
	// MemberReadGroupListing reads every group with its members, page by page:
	// core/groups/?include_users=true.
	MemberReadGroupListing
	// MemberReadEachGroup reads each group needed with its members:
	// core/groups/{pk}/?include_users=true.
	MemberReadEachGroup
	// MemberReadUserListing lists each needed group's members as users,
	// core/users/?groups_by_pk=, page by page over the users. Authentik spends some 4 ms of
	// CPU on every user row there, fifty times what a users_obj row costs: it is kept to
	// measure the other ways against.
	MemberReadUserListing
)

func (m MemberRead) String() string {
	switch m {
	case MemberReadAuto:
		return "auto"
	case MemberReadGroupListing:
		return "group listing"
	case MemberReadEachGroup:
		return "each group"
	case MemberReadUserListing:
		return "user listing"
	}
	return fmt.Sprintf("MemberRead(%d)", int(m))
}

// What reading members costs Authentik's server, as measured on a real Authentik 2025.12.4
// with 10,000 users in 100 groups: some 0.08 ms of CPU per user in a group's users_obj (1.6 s
// for the 20,000 memberships). What a request costs on its own (token, permissions, the count
// of a page) was not measured apart; 10 ms is taken for it.
const (
	costPerRequest   = 10 * time.Millisecond
	costPerMemberRow = 80 * time.Microsecond
)

// maxMembersPerPage bounds the users_obj rows of one page of the member listing: some 0.4 s of
// Authentik's CPU and 2 MB of answer, far inside the request timeout and the body limit. A
// group larger than that comes alone on its page.
const maxMembersPerPage = 5000

// maxBytesPerMember is the room a member read gets for each member it expects, on top of the
// body limit: a users_obj row is some 350 bytes, attributes not counted.
const maxBytesPerMember = 4 << 10

// memberPlan is one way of reading the members of the groups needed, and what it would cost.
type memberPlan struct {
	read     MemberRead
	pageSize int // MemberReadGroupListing: groups per page
	pageRows int // MemberReadGroupListing: the most members a page holds
	requests int
	rows     int // users_obj rows Authentik would serialize
	cost     time.Duration
}

// planMemberReads prices the two ways of reading members, from what the group listing says
// (counts: the number of direct members of every group, in the listing's order; needed: the
// indexes of the groups whose members are wanted):
//
//   - the listing with members serializes every group's members, the unneeded ones too, in
//     few requests (listingPageSize groups a page);
//   - a read of each group serializes only the needed groups' members, in one request each.
//
// Each is priced at costPerRequest a request plus costPerMemberRow a member.
func planMemberReads(counts []int, needed []int, maxPageSize int) (listing, each memberPlan) {
	size := listingPageSize(counts, maxPageSize)
	listing = memberPlan{read: MemberReadGroupListing, pageSize: size, pageRows: maxPageRows(counts, size),
		requests: max(1, (len(counts)+size-1)/size)}
	for _, n := range counts {
		listing.rows += n
	}
	each = memberPlan{read: MemberReadEachGroup, requests: len(needed)}
	for _, i := range needed {
		each.rows += counts[i]
	}
	for _, p := range []*memberPlan{&listing, &each} {
		p.cost = time.Duration(p.requests)*costPerRequest + time.Duration(p.rows)*costPerMemberRow
	}
	return listing, each
}

// chooseMemberRead picks the way that costs Authentik less CPU (see planMemberReads). A tie
// goes to reading each group: one group's failure then leaves the others known. So a few
// groups of a large directory are read one by one, and most groups of it in pages.
func chooseMemberRead(counts []int, needed []int, maxPageSize int) memberPlan {
	listing, each := planMemberReads(counts, needed, maxPageSize)
	if each.cost <= listing.cost {
		return each
	}
	return listing
}

// listingPageSize is the largest page size, up to maxSize, at which no page of the member
// listing holds more than maxMembersPerPage members; 1 when even that does not fit.
func listingPageSize(counts []int, maxSize int) int {
	for size := max(1, maxSize); size > 1; size-- {
		if maxPageRows(counts, size) <= maxMembersPerPage {
			return size
		}
	}
	return 1
}

// maxPageRows is the most members one page of the listing holds at this page size.
func maxPageRows(counts []int, size int) int {
	most := 0
	for start := 0; start < len(counts); start += size {
		sum := 0
		for _, n := range counts[start:min(start+size, len(counts))] {
			sum += n
		}
		most = max(most, sum)
	}
	return most
}

// memberBodyLimit is the body limit of a read of rows members: the client's limit plus room for
// each member, so that one large group, which comes whole, is not refused for its size.
func (c *Client) memberBodyLimit(rows int) int64 {
	return c.maxBody + int64(rows)*maxBytesPerMember
}

// wireGroupMembers is a group as read with its members: "users" holds their pks and users_obj
// the users themselves, both taken from one query of Authentik's, so they must agree.
type wireGroupMembers struct {
	PK       string             `json:"pk"`
	Name     string             `json:"name"`
	Users    []int              `json:"users"`
	UsersObj *[]json.RawMessage `json:"users_obj"`
}

// members checks a group read with its members and returns them, active or not.
func (w wireGroupMembers) members() ([]directory.User, error) {
	if w.UsersObj == nil {
		return nil, fmt.Errorf("authentik group %q came without users_obj, though include_users=true was asked for", w.Name)
	}
	users, err := decodeUsers(*w.UsersObj)
	if err != nil {
		return nil, fmt.Errorf("members of authentik group %q: %w", w.Name, err)
	}
	if w.Users != nil && !samePKs(w.Users, users) {
		return nil, fmt.Errorf("authentik group %q names %d member pks in \"users\" but holds %d other or more users in users_obj; "+
			"the answer is inconsistent and is not trusted, it will be read again next time", w.Name, len(w.Users), len(users))
	}
	return users, nil
}

// samePKs tells whether pks are exactly the users' pks, in any order (users holds no pk twice).
func samePKs(pks []int, users []directory.User) bool {
	if len(pks) != len(users) {
		return false
	}
	in := make(map[int]bool, len(users))
	for _, u := range users {
		in[u.PK] = true
	}
	for _, pk := range pks {
		if !in[pk] {
			return false
		}
		delete(in, pk) // a pk named twice must not match one user twice
	}
	return true
}

// readGroupMembers reads one group with its members: core/groups/{pk}/?include_users=true.
// expected, its member count from the group listing, sizes the body limit.
func (c *Client) readGroupMembers(ctx context.Context, g directory.Group, expected int) ([]directory.User, error) {
	u := c.api.ResolveReference(&url.URL{Path: "core/groups/" + url.PathEscape(g.PK) + "/",
		RawQuery: url.Values{"include_users": {"true"}}.Encode()})
	where := u.RequestURI()
	body, contentType, err := c.getLimited(ctx, u, where, c.memberBodyLimit(expected))
	if err != nil {
		return nil, fmt.Errorf("read authentik group %q with its members: %w", g.Name, err)
	}
	var w wireGroupMembers
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("read authentik group %q with its members: %w", g.Name, notJSONError(where, contentType, fmt.Errorf("decode group: %w", err)))
	}
	switch {
	case w.PK != g.PK:
		return nil, fmt.Errorf("read authentik group %q: asked for pk %s, the answer is group pk %q", g.Name, g.PK, w.PK)
	case w.Name != g.Name:
		return nil, fmt.Errorf("authentik group %s is now named %q, not %q (renamed while it was read; it will be read again next time)", g.PK, w.Name, g.Name)
	}
	return w.members()
}

// readMemberListing reads every group with its members, core/groups/?include_users=true, page
// by page, and hands each group of keep to found as soon as its page is read and has passed the
// checks of a page (its pagination, no group twice): its direct members, or the error that makes
// them unknown. A group of keep that the listing does not hold (deleted or renamed since the
// group tree was read) is handed over with an error once the listing ends. The error returned is
// for the rest of the listing: the groups not handed over by then are unknown. The groups handed
// over before stay known, rightly: each came whole in one object (its users_obj), so a listing
// that moves under the reader can hide or repeat a group, never shift a member out of one.
func (c *Client) readMemberListing(ctx context.Context, plan memberPlan, keep map[string]directory.Group, found func(pk string, d directMembers)) error {
	done := make(map[string]bool, len(keep))
	seenPK, seenName := map[string]bool{}, map[string]bool{}
	i := 0
	type groupID struct {
		PK   string `json:"pk"`
		Name string `json:"name"`
	}
	err := c.listEach(ctx, "core/groups/", url.Values{"include_users": {"true"}}, plan.pageSize, c.memberBodyLimit(plan.pageRows), func(results []json.RawMessage) error {
		// The whole page is checked before any of its groups is handed over.
		ids := make([]groupID, len(results))
		for j, raw := range results {
			i++
			if err := json.Unmarshal(raw, &ids[j]); err != nil {
				return fmt.Errorf("group #%d: %w", i, err)
			}
			id := ids[j]
			if seenPK[id.PK] || seenName[id.Name] {
				return fmt.Errorf("group %q (%s) listed twice; groups changed during the listing, it will be read again next time", id.Name, id.PK)
			}
			seenPK[id.PK], seenName[id.Name] = true, true
		}
		for j, raw := range results {
			id := ids[j]
			g, wanted := keep[id.PK]
			if !wanted {
				continue // its members cost Authentik, but not us
			}
			var d directMembers
			if id.Name != g.Name {
				d.err = fmt.Errorf("authentik group %s is now named %q, not %q (renamed while it was read; it will be read again next time)", id.PK, id.Name, g.Name)
			} else {
				var w wireGroupMembers
				if err := json.Unmarshal(raw, &w); err != nil {
					d.err = fmt.Errorf("group %q: %w", id.Name, err)
				} else {
					d.users, d.err = w.members()
				}
			}
			done[id.PK] = true
			found(id.PK, d)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list authentik groups with their members: %w", err)
	}
	for pk, g := range keep {
		if !done[pk] {
			found(pk, directMembers{err: fmt.Errorf("authentik group %q (%s) is not in the listing of groups with their members "+
				"(groups changed while being read; it will be read again next time)", g.Name, pk)})
		}
	}
	return nil
}
