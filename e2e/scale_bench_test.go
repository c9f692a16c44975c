package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

// Convergence: 1,000 users in 10 groups of 100, each group mapped to its own new room, force-joined
// by the bot in appservice mode. The baseline makes the same requests (the bot's invite, then
// the user's join through the appservice) straight to Synapse with the same number of workers.
const (
	convergenceUsers   = 1000
	convergenceRooms   = 10
	convergenceWorkers = 8 // sync.max_concurrent_writes' default
)

// asCall makes one request as the appservice, acting as user.
func asCall(ctx context.Context, method, path string, user id.UserID, body any) error {
	b, _ := json.Marshal(body)
	u := env.hs.URL + path + "?user_id=" + url.QueryEscape(string(user))
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+env.asToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code, Error string
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s as %s: %s %s %s", method, path, user, resp.Status, e.Code, e.Error)
	}
	return nil
}

// parallel runs f for 0…n-1 on workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// convergenceRoomsFor creates fresh rooms with the appservice bot joined at power level 100.
func convergenceRoomsFor(b *testing.B, tag string) []id.RoomID {
	ctx := context.Background()
	var rooms []id.RoomID
	for r := range convergenceRooms {
		room, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: fmt.Sprintf("converge-%s-%d", tag, r),
			Invite: []id.UserID{env.asBot.ID}, PowerLevelUsers: map[id.UserID]int{env.asBot.ID: 100}})
		if err != nil {
			b.Fatal(err)
		}
		if err := env.hs.Join(ctx, env.asBot, room); err != nil {
			b.Fatal(err)
		}
		rooms = append(rooms, room)
	}
	return rooms
}

func convergenceUser(i int) id.UserID {
	return id.UserID("@" + authentiktest.SyntheticUser(i) + ":" + serverName)
}

// allJoined reports whether every room holds its group's 100 users as joined.
func allJoined(ctx context.Context, rooms []id.RoomID, spec authentiktest.Synthetic) error {
	for g, room := range rooms {
		ms, err := env.hs.Memberships(ctx, room)
		if err != nil {
			return err
		}
		for _, i := range spec.Members(g) {
			if m := ms[convergenceUser(i)]; m.Membership != "join" {
				return fmt.Errorf("%s in %s: %q", convergenceUser(i), room, m.Membership)
			}
		}
	}
	return nil
}

func BenchmarkConvergence(b *testing.B) {
	ctx := context.Background()
	spec := authentiktest.Synthetic{Users: convergenceUsers, Groups: convergenceRooms, MembersPerGroup: convergenceUsers / convergenceRooms}
	if err := parallel(convergenceUsers, convergenceWorkers, func(i int) error {
		return registerAppserviceUser(ctx, env.hs.URL, env.asToken, authentiktest.SyntheticUser(i))
	}); err != nil {
		b.Fatal(err)
	}
	var botTotal, baseTotal time.Duration
	runs := 0
	for n := 0; b.Loop(); n++ {
		runs++
		// The baseline: the same invite and join per user, straight to Synapse.
		b.StopTimer()
		baseRooms := convergenceRoomsFor(b, fmt.Sprintf("base%d", n))
		b.StartTimer()
		start := time.Now()
		err := parallel(convergenceUsers, convergenceWorkers, func(i int) error {
			g := i / spec.MembersPerGroup
			room, user := baseRooms[g], convergenceUser(i)
			if err := asCall(ctx, http.MethodPost, "/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/invite", env.asBot.ID, map[string]any{"user_id": user}); err != nil {
				return err
			}
			return asCall(ctx, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(room)), user, map[string]any{})
		})
		baseTotal += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if err := allJoined(ctx, baseRooms, spec); err != nil {
			b.Fatalf("baseline: %v", err)
		}

		// The bot: its first cycle does every join; its duration is the time to converge.
		b.StopTimer()
		rooms := convergenceRoomsFor(b, fmt.Sprintf("bot%d", n))
		ak := authentiktest.New(authentikToken)
		if err := ak.LoadSynthetic(spec); err != nil {
			b.Fatal(err)
		}
		var mappings []mapping
		for g, room := range rooms {
			mappings = append(mappings, mapping{Group: authentiktest.SyntheticGroup(g), Room: room})
		}
		bt := benchBot(b, ak, botConfig{appservice: true, joinMethod: "force", grace: time.Hour, mappings: mappings})
		b.StartTimer()
		d := bt.firstCycleDuration(b)
		botTotal += d
		b.StopTimer()
		if err := allJoined(ctx, rooms, spec); err != nil {
			b.Fatalf("after the bot's first cycle: %v", err)
		}
		stopBenchBot(b, bt)
		ak.Close()
		b.StartTimer()
	}
	perRun := func(d time.Duration) float64 { return d.Seconds() / float64(runs) }
	b.ReportMetric(perRun(botTotal), "bot_s")
	b.ReportMetric(perRun(baseTotal), "baseline_s")
	b.ReportMetric(botTotal.Seconds()/baseTotal.Seconds(), "ratio")
	b.ReportMetric(convergenceUsers/perRun(botTotal), "bot_joins/s")
}

// firstCycleDuration waits for the bot's first cycle and returns its duration from the log.
func (bt *bot) firstCycleDuration(b *testing.B) time.Duration {
	var d time.Duration
	err := harness.WaitFor(context.Background(), 5*time.Minute, func() (bool, error) {
		select {
		case <-bt.done:
			return false, fmt.Errorf("bot exited")
		default:
		}
		lines := bt.logLines("Cycle finished")
		if len(lines) == 0 {
			return false, fmt.Errorf("no cycle finished yet")
		}
		seconds, err := strconv.ParseFloat(fmt.Sprint(lines[0]["duration_seconds"]), 64)
		if err != nil {
			return false, fmt.Errorf("cycle duration %v: %w", lines[0]["duration_seconds"], err)
		}
		d = time.Duration(seconds * float64(time.Second))
		return true, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchBot starts the binary for a benchmark; launchBot's checks need a *testing.T.
func benchBot(b *testing.B, ak *authentiktest.Server, cfg botConfig) *bot {
	port, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	dataDir := filepath.Join(b.TempDir(), "data")
	bt := &bot{health: fmt.Sprintf("127.0.0.1:%d", port), dataDir: dataDir, done: make(chan struct{}),
		logPath: filepath.Join(b.TempDir(), "bot.log")}
	args, cmdEnv := invocation(b, ak, cfg, dataDir, bt.health)
	logFile, err := os.Create(bt.logPath)
	if err != nil {
		b.Fatal(err)
	}
	bt.cmd = exec.Command(env.bin, args...)
	bt.cmd.Env, bt.cmd.Dir = cmdEnv, b.TempDir()
	bt.cmd.Stdout, bt.cmd.Stderr = logFile, logFile
	bt.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := bt.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { bt.exitErr = bt.cmd.Wait(); logFile.Close(); close(bt.done) }()
	b.Cleanup(func() { stopBenchBot(b, bt) })
	return bt
}

func stopBenchBot(b *testing.B, bt *bot) {
	select {
	case <-bt.done:
		return
	default:
	}
	_ = bt.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-bt.done:
	case <-time.After(15 * time.Second):
		_ = bt.cmd.Process.Kill()
		<-bt.done
		b.Errorf("bot did not stop within 15 s of SIGTERM")
	}
}
