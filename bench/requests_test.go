package bench

import (
	"fmt"
	"testing"
)

// A cycle with nothing to do asks Authentik for the group tree and the mapped groups' members
// (the cheaper way for Authentik), reads each room once in client mode and none in appservice
// mode, and writes nothing.
func TestNoChangeCycleMakesTheMinimumOfRequests(t *testing.T) {
	for _, tc := range []struct {
		shape      shape
		appservice bool
	}{
		{shape{users: 300, groups: 10, rooms: 20}, false},
		{shape{users: 300, groups: 10, rooms: 20}, true},
		{shape{users: 1000, groups: 150, rooms: 7}, false},
	} {
		t.Run(fmt.Sprintf("%s/appservice=%v", tc.shape, tc.appservice), func(t *testing.T) {
			w := newWorld(t, tc.shape, tc.appservice)
			first := w.cycle(t)
			if first.writes != 0 {
				t.Fatalf("the first cycle wrote %d times to rooms already in step", first.writes)
			}
			wantAK, wantReads := tc.shape.minimumRequests()
			if tc.appservice {
				wantReads = 0
			}
			for i := range 2 {
				got := w.cycle(t)
				if got.authentik != wantAK || got.roomReads != wantReads || got.homeserver != wantReads || got.writes != 0 {
					t.Fatalf("no-change cycle %d: %+v, want %d Authentik requests, %d room reads and nothing else",
						i+1, got, wantAK, wantReads)
				}
			}
		})
	}
}

// BenchmarkNoChangeCycle reports the requests of a cycle with nothing to do, next to the least
// the APIs allow (group pages, the cheaper member read, one state read per room).
func BenchmarkNoChangeCycle(b *testing.B) {
	for _, users := range []int{1_000, 10_000, 50_000} {
		for _, as := range []bool{false, true} {
			s := shape{users: users, groups: 200, rooms: 500}
			mode := "client"
			if as {
				mode = "appservice"
			}
			b.Run(fmt.Sprintf("%s/mode=%s", s, mode), func(b *testing.B) {
				w := newWorld(b, s, as)
				w.cycle(b) // records every member; not a no-change cycle
				var sum cycleCounts
				n := 0
				b.ResetTimer()
				for b.Loop() {
					c := w.cycle(b)
					sum.authentik += c.authentik
					sum.homeserver += c.homeserver
					sum.writes += c.writes
					n++
				}
				minAK, minHS := s.minimumRequests()
				b.ReportMetric(float64(sum.authentik)/float64(n), "authentik_req/cycle")
				b.ReportMetric(float64(sum.homeserver)/float64(n), "homeserver_req/cycle")
				b.ReportMetric(float64(sum.writes)/float64(n), "writes/cycle")
				b.ReportMetric(float64(minAK+minHS), "minimum_req/cycle")
			})
		}
	}
}
