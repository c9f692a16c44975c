package authentik

import (
	"testing"
	"time"

	"authentik-matrix-sync/directory"
)

func repeat(n, members int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = members
	}
	return out
}

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestChooseMemberRead: the way that costs Authentik less is taken, a tie going to reading each
// group, and the costs are what the measured figures give.
func TestChooseMemberRead(t *testing.T) {
	tests := []struct {
		name     string
		counts   []int
		needed   []int
		pageSize int
		want     MemberRead
		wantReqs int
		wantCost time.Duration
	}{
		{name: "10,000 users in 100 groups of 200, every group mapped: four pages of 25 groups",
			counts: repeat(100, 200), needed: upTo(100), pageSize: 100,
			want: MemberReadGroupListing, wantReqs: 4, wantCost: 4*costPerRequest + 20000*costPerMemberRow},
		{name: "three groups of a thousand groups of 50: one read each",
			counts: repeat(1000, 50), needed: []int{7, 500, 999}, pageSize: 100,
			want: MemberReadEachGroup, wantReqs: 3, wantCost: 3*costPerRequest + 150*costPerMemberRow},
		{name: "two groups on one page, both mapped: reading the listing is cheaper by one request",
			counts: []int{3, 4}, needed: []int{0, 1}, pageSize: 100,
			want: MemberReadGroupListing, wantReqs: 1, wantCost: costPerRequest + 7*costPerMemberRow},
		{name: "two groups at one a page, both mapped: a tie goes to reading each group",
			counts: []int{3, 4}, needed: []int{0, 1}, pageSize: 1,
			want: MemberReadEachGroup, wantReqs: 2, wantCost: 2*costPerRequest + 7*costPerMemberRow},
		{name: "one small group mapped beside a huge unmapped one: read alone",
			counts: []int{50000, 10}, needed: []int{1}, pageSize: 100,
			want: MemberReadEachGroup, wantReqs: 1, wantCost: costPerRequest + 10*costPerMemberRow},
		{name: "half of 200 groups mapped: the listing's unneeded members cost less than 100 requests",
			counts: repeat(200, 10), needed: upTo(100), pageSize: 100,
			want: MemberReadGroupListing, wantReqs: 2, wantCost: 2*costPerRequest + 2000*costPerMemberRow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chooseMemberRead(tt.counts, tt.needed, tt.pageSize)
			if got.read != tt.want || got.requests != tt.wantReqs || got.cost != tt.wantCost {
				t.Fatalf("got %s, %d requests, %s; want %s, %d requests, %s", got.read, got.requests, got.cost, tt.want, tt.wantReqs, tt.wantCost)
			}
		})
	}
}

// TestListingPageSize: a page of the member listing holds at most maxMembersPerPage members, a
// larger group alone on its page, and never more groups than the page size asked for.
func TestListingPageSize(t *testing.T) {
	tests := []struct {
		name         string
		counts       []int
		maxSize      int
		want         int
		wantPageRows int
	}{
		{"small groups: the full page size", repeat(300, 10), 100, 100, 1000},
		{"groups of 200: 25 a page", repeat(100, 200), 100, 25, 5000},
		{"groups of 1000: 5 a page", repeat(12, 1000), 100, 5, 5000},
		{"a group above the bound: one a page", []int{10, 6000, 10}, 100, 1, 6000},
		{"the bound is counted over each page", []int{4000, 500, 500, 4000, 2000}, 100, 2, 4500},
		{"no groups", nil, 100, 100, 0},
		{"a page size below one counts as one", repeat(3, 1), 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listingPageSize(tt.counts, tt.maxSize)
			if got != tt.want || maxPageRows(tt.counts, got) != tt.wantPageRows {
				t.Fatalf("page size %d holding at most %d members, want %d holding %d", got, maxPageRows(tt.counts, got), tt.want, tt.wantPageRows)
			}
		})
	}
}

func TestSamePKs(t *testing.T) {
	users := func(pks ...int) []directory.User {
		var out []directory.User
		for _, pk := range pks {
			out = append(out, directory.User{PK: pk})
		}
		return out
	}
	tests := []struct {
		pks   []int
		users []directory.User
		want  bool
	}{
		{[]int{1, 2, 3}, users(3, 1, 2), true},
		{[]int{}, nil, true},
		{[]int{1, 2}, users(1), false},
		{[]int{1, 1}, users(1, 2), false},
		{[]int{1, 3}, users(1, 2), false},
	}
	for _, tt := range tests {
		if got := samePKs(tt.pks, tt.users); got != tt.want {
			t.Errorf("samePKs(%v, %v) = %v, want %v", tt.pks, tt.users, got, tt.want)
		}
	}
}
