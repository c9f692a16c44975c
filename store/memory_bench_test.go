package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// BenchmarkSQLiteMemoryUnderChurn runs cycles of a busy installation against the SQLite store
// (each cycle loads the state, then 8 writers each track a member, schedule its removal, cancel
// it and record a removal;
// a backup every 20 cycles) and reports the memory the process holds outside Go's heap and
// runtime, which is SQLite's: how much it grew from cycle 50 to the end (outside_go_growth_MB)
// and where it ended (outside_go_MB). "as shipped" is the store's own page cache and
// connection bounds; "sqlite defaults" is SQLite's 2 MiB page cache per connection with
// database/sql's unbounded pool, as before those bounds. The figures come from /proc and Go's
// runtime metrics of this process, so they carry about ±0.5 MB of noise.
func BenchmarkSQLiteMemoryUnderChurn(b *testing.B) {
	for _, c := range []struct {
		name     string
		cacheKiB int
		unbound  bool
	}{{"as shipped", 0, false}, {"sqlite defaults", 2000, true}} {
		b.Run(c.name, func(b *testing.B) {
			var growth, end float64
			for b.Loop() {
				growth, end = churn(b, c.cacheKiB, c.unbound, 400)
			}
			b.ReportMetric(growth, "outside_go_growth_MB")
			b.ReportMetric(end, "outside_go_MB")
		})
	}
}

func churn(b *testing.B, cacheKiB int, unbound bool, cycles int) (growth, end float64) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, Options{DataDir: b.TempDir(), BackupRetention: 2, pageCacheKiB: cacheKiB})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if unbound {
		s.db.SetMaxOpenConns(0)
		s.db.SetMaxIdleConns(2)
	}
	now := time.Now()
	user := func(i int) id.UserID { return id.UserID(fmt.Sprintf("@u%04d:example.org", i%1000)) }
	room := func(i int) id.RoomID { return id.RoomID(fmt.Sprintf("!room%02d:example.org", i%20)) }
	for i := range 1200 {
		if err := s.PutMember(ctx, plan.ManagedMember{Room: room(i), User: user(i), DesiredSince: now, AddedAt: now}); err != nil {
			b.Fatal(err)
		}
	}
	var start float64
	for c := range cycles {
		if _, err := s.LoadState(ctx); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for w := range 8 {
			wg.Go(func() {
				// One member per writer, taken through a removal's life: tracked, scheduled,
				// cancelled, removed.
				i := (c*37 + w*5) % 1200
				r, u := room(i), user(i)
				for j := range 4 {
					var err error
					switch j {
					case 0:
						err = s.PutMember(ctx, plan.ManagedMember{Room: r, User: u, DesiredSince: now, AddedAt: now})
					case 1:
						err = s.PutPending(ctx, plan.PendingRemoval{Room: r, User: u, DueAt: now, Reason: "no longer in Authentik group staff", CreatedAt: now})
					case 2:
						err = s.DeletePending(ctx, r, u)
					case 3:
						err = s.RecordRemoval(ctx, plan.Removal{Room: r, User: u, Action: plan.RemoveKick, Reason: "no longer in Authentik group staff", At: now})
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		if c%20 == 0 {
			if _, err := s.Backup(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if c == 50 {
			start = outsideGoMB(b)
		}
	}
	end = outsideGoMB(b)
	return end - start, end
}

// outsideGoMB is the process's allocated resident memory (RssAnon) less what Go's runtime holds
// mapped and not returned to the system, in MB.
func outsideGoMB(b *testing.B) float64 {
	runtime.GC()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	var anonKiB int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			anonKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	goBytes := float64(s[0].Value.Uint64() - s[1].Value.Uint64())
	return (float64(anonKiB)*1024 - goBytes) / 1e6
}
