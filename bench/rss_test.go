package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"authentik-matrix-sync/store/pgtest"
)

// BenchmarkPeakRSS runs the real binary in client mode against the fakes at 50,000 users, 200
// groups and 500 rooms, with its state in Postgres, for a first cycle (which records all 250,000
// memberships) and a no-change cycle, and reports the process's peak resident memory (VmHWM):
// as it comes (the program sets GOGC=50 unless GOGC is set), and with Go's own default, GOGC=100.
// The appservice case runs the same in appservice mode, where the bot keeps every room's state
// between cycles in its room cache (the fake homeserver pushes no events, so the rooms are read
// in the first cycle only).
func BenchmarkPeakRSS(b *testing.B) {
	for _, c := range []struct {
		name       string
		gogc       string
		appservice bool
	}{{"default", "", false}, {"GOGC=100", "100", false}, {"appservice", "", true}} {
		b.Run(c.name, func(b *testing.B) { peakRSS(b, c.gogc, c.appservice) })
	}
}

func peakRSS(b *testing.B, gogc string, appservice bool) {
	s := shape{users: 50_000, groups: 200, rooms: 500}
	ctx := context.Background()
	pg, err := pgtest.Start(ctx)
	if err != nil {
		b.Fatalf("Postgres for the state: %v", err)
	}
	b.Cleanup(pg.Stop) // after the databases' own clean-ups, which run first
	ak, hs, policy := newFakes(b, s)
	bin := filepath.Join(b.TempDir(), "authentik-matrix-sync")
	build := exec.Command("go", "build", "-o", bin, "../cmd/authentik-matrix-sync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the bot: %v\n%s", err, out)
	}
	var mappings []map[string]string
	for _, m := range policy.Mappings {
		mappings = append(mappings, map[string]string{"group": m.Group, "room": string(m.Room)})
	}
	mj, _ := json.Marshal(mappings)

	var peak, first, second float64
	runs := 0
	for b.Loop() {
		runs++
		dbURL := pg.Database(b)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		hs.counts() // from zero
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "AUTHENTIK_URL="+ak.URL(), "AUTHENTIK_TOKEN="+akToken,
			"MATRIX_HOMESERVER_URL="+hs.srv.URL, "MATRIX_USER_ID="+string(botID),
			"SYNC_MAPPINGS="+string(mj), "SYNC_INTERVAL_SECONDS=2", "DATABASE_URL="+dbURL,
			"DATA_DIR="+b.TempDir(), "METRICS_LISTEN="+addr, "LOG_LEVEL=warn", "LOG_FORMAT=json")
		if appservice {
			cmd.Env = append(cmd.Env, "CONFIG_FILE="+appserviceConfig(b))
		} else {
			cmd.Env = append(cmd.Env, "MATRIX_ACCESS_TOKEN=bench")
		}
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") })
		if gogc != "" {
			cmd.Env = append(cmd.Env, "GOGC="+gogc)
		}
		profile := os.Getenv("BENCH_HEAP_PROFILE")
		if profile != "" {
			cmd.Env = append(cmd.Env, "METRICS_PPROF=true")
		}
		// BENCH_BOT_LOG keeps the bot's log (add GODEBUG=gctrace=1 to see the heap at each GC).
		logPath := cmp.Or(os.Getenv("BENCH_BOT_LOG"), filepath.Join(b.TempDir(), "bot.log"))
		logFile, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cycles, err := waitCycles(addr, 2, 30*time.Minute, func() {
			if profile != "" {
				saveHeapProfile(b, addr, profile)
			}
		})
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log, _ := os.ReadFile(logPath)
			b.Fatalf("%v\nbot log:\n%s", err, tail(string(log), 30))
		}
		hwm, err := readPeakRSS(cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
		if err != nil {
			b.Fatal(err)
		}
		byRoute, _ := hs.counts()
		reads := byRoute[stateRoute]
		if appservice && reads != s.rooms {
			// Each room once, in the first cycle; later cycles use the room cache.
			b.Fatalf("appservice mode read room state %d times, want %d: the bot did not run in appservice mode", reads, s.rooms)
		}
		peak = max(peak, hwm)
		first += cycles[0].Sub(start).Seconds()
		second += cycles[1].Sub(cycles[0]).Seconds()
	}
	b.ReportMetric(peak, "peak_rss_MB")
	b.ReportMetric(first/float64(runs), "start_to_first_cycle_s")
	b.ReportMetric(second/float64(runs), "second_cycle_s")
}

// waitCycles polls the bot's /health until n cycles have finished and returns when each was
// first seen.
// afterFirst runs once the first cycle has finished.
func waitCycles(addr string, n int, limit time.Duration, afterFirst func()) ([]time.Time, error) {
	var seen []time.Time
	last := ""
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			continue
		}
		var rep struct {
			LastCycle *struct {
				ID    string `json:"id"`
				Ok    bool   `json:"ok"`
				Error string `json:"error"`
			} `json:"last_cycle"`
		}
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if err != nil || rep.LastCycle == nil || rep.LastCycle.ID == last {
			continue
		}
		if !rep.LastCycle.Ok {
			return nil, fmt.Errorf("cycle %s failed: %s", rep.LastCycle.ID, rep.LastCycle.Error)
		}
		last = rep.LastCycle.ID
		seen = append(seen, time.Now())
		if len(seen) == 1 {
			afterFirst()
		}
		if len(seen) == n {
			return seen, nil
		}
	}
	return nil, fmt.Errorf("%d of %d cycles finished within %s", len(seen), n, limit)
}

// readPeakRSS reads a process's peak resident set size in MB from /proc (VmHWM).
func readPeakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the bot's memory figures: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return float64(kb) / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// saveHeapProfile stores the bot's heap profile (set BENCH_HEAP_PROFILE to a path to find out
// where its memory goes; go tool pprof reads it).
func saveHeapProfile(b *testing.B, addr, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		b.Logf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Logf("heap profile: %v", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// appserviceConfig writes a config file that puts the bot in appservice mode, listening for
// transactions on a free port of its own.
func appserviceConfig(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	path := filepath.Join(b.TempDir(), "config.yaml")
	cfg := fmt.Sprintf("appservice:\n  address: http://127.0.0.1:%d\n  hostname: 127.0.0.1\n  port: %d\n  as_token: bench-as-token\n  hs_token: bench-hs-token\n", port, port)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}
