package bench

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/appservice"
)

// BenchmarkRoomCacheMemory measures what appservice mode keeps in memory between cycles on top
// of client mode: the room cache, holding every mapped room's state at 50,000 users in 500 rooms
// (250,000 memberships). During a cycle the planner works on these same copies, so the cache adds
// to the resident memory between cycles, not to the peak of a cycle.
func BenchmarkRoomCacheMemory(b *testing.B) {
	s := shape{users: 50_000, groups: 200, rooms: 500}
	_, hs, _ := newFakes(b, s)
	mx, err := appservice.New(appservice.Options{HomeserverURL: hs.srv.URL, BotUserID: botID, AccessToken: "bench", Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	// A first read lets the fake homeserver build whatever it keeps, which is not the cache's.
	readAll(b, appservice.NewRoomCache(mx, time.Hour), s.rooms)
	var size float64
	for b.Loop() {
		before := liveHeap()
		cache := appservice.NewRoomCache(mx, time.Hour)
		readAll(b, cache, s.rooms)
		size = float64(liveHeap()-before) / (1 << 20)
		runtime.KeepAlive(cache)
	}
	b.ReportMetric(size, "cache_MB")
}

func readAll(b *testing.B, cache *appservice.RoomCache, rooms int) {
	for r := range rooms {
		if _, err := cache.RoomState(context.Background(), roomID(r)); err != nil {
			b.Fatal(err)
		}
	}
}

// liveHeap returns the bytes of heap objects still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
