// Command report runs every benchmark of the module and writes bench/results.md: the machine,
// the inputs and the figures, with the raw `go test -bench` output at the end so nothing is lost
// in the summary. Packages whose benchmarks are end-to-end (bench/ and e2e/) run each benchmark
// once (-benchtime 1x); the others use go test's default.
//
//	go run ./bench/report -o bench/results.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "bench/results.md", "where to write the report")
	timeout := flag.Duration("timeout", 90*time.Minute, "limit for each go test run")
	flag.Parse()
	if err := run(context.Background(), *out, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench report:", err)
		os.Exit(1)
	}
}

// heavy are the packages whose benchmarks start servers and processes: one iteration each.
var heavy = []string{"authentik-matrix-sync/bench", "authentik-matrix-sync/e2e"}

func run(ctx context.Context, outPath string, timeout time.Duration) error {
	pkgs, err := packages(ctx)
	if err != nil {
		return err
	}
	var light, once []string
	for _, p := range pkgs {
		if isHeavy(p) {
			once = append(once, p)
		} else {
			light = append(light, p)
		}
	}
	started := time.Now()
	var runs []benchRun
	for _, r := range []struct {
		pkgs  []string
		extra []string
	}{{light, nil}, {once, []string{"-benchtime", "1x"}}} {
		if len(r.pkgs) == 0 {
			continue
		}
		args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-timeout", timeout.String()}, r.extra...)
		args = append(args, r.pkgs...)
		fmt.Fprintln(os.Stderr, "go", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		var buf bytes.Buffer
		cmd.Stdout = io.MultiWriter(&buf, os.Stderr)
		cmd.Stderr = io.MultiWriter(&buf, os.Stderr)
		err := cmd.Run()
		runs = append(runs, benchRun{args: args, output: buf.String(), err: err})
	}
	// The soak figure comes from an hour-long run of its own (make soak), kept beside the report.
	soak, err := os.ReadFile(filepath.Join(filepath.Dir(outPath), soakFile))
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read the soak figure: %w", err)
	}
	report := render(machine(ctx), runs, started, time.Since(started), string(soak))
	if err := os.WriteFile(outPath, []byte(report), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", outPath, err)
	}
	fmt.Fprintln(os.Stderr, "wrote", outPath)
	for _, r := range runs {
		if r.err != nil {
			return fmt.Errorf("a benchmark run failed (see %s): %w", outPath, r.err)
		}
	}
	return nil
}

func isHeavy(pkg string) bool {
	for _, h := range heavy {
		if pkg == h || strings.HasPrefix(pkg, h+"/") {
			return true
		}
	}
	return false
}

// packages lists the module's packages that have benchmarks, so go test does not build the
// others for nothing.
func packages(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.ImportPath}} {{.Dir}}", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, dir, _ := strings.Cut(sc.Text(), " ")
		if hasBenchmarks(dir) {
			pkgs = append(pkgs, path)
		}
	}
	return pkgs, nil
}

func hasBenchmarks(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("\nfunc Benchmark")) {
			return true
		}
	}
	return false
}

type benchRun struct {
	args   []string
	output string
	err    error
}

// machineInfo is what the figures were measured on.
type machineInfo struct {
	cpu, cores, ram, goVersion, synapse, postgres, kernel string
}

func machine(ctx context.Context) machineInfo {
	m := machineInfo{cores: fmt.Sprint(runtime.NumCPU()), cpu: "unknown", ram: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int
				fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
				m.ram = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.goVersion = command(ctx, "go", "version")
	venv := os.Getenv("SYNAPSE_VENV")
	if venv == "" {
		venv = ".venv/synapse"
	}
	m.synapse = command(ctx, filepath.Join(venv, "bin", "python"), "-c", "import synapse; print(synapse.__version__)")
	m.postgres = command(ctx, "postgres", "--version")
	if m.postgres == "unknown" {
		if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres"); len(dirs) > 0 {
			m.postgres = command(ctx, dirs[len(dirs)-1], "--version")
		}
	}
	return m
}

func command(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// result is one benchmark line: name, iterations and its value/unit pairs.
type result struct {
	pkg, name string
	iters     string
	metrics   []metric
}

type metric struct{ value, unit string }

func (r result) get(unit string) string {
	for _, m := range r.metrics {
		if m.unit == unit {
			return m.value
		}
	}
	return ""
}

// parse reads go test -bench output.
func parse(output string) []result {
	var out []result
	pkg := ""
	for _, line := range strings.Split(output, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		r := result{pkg: pkg, name: trimProcs(f[0]), iters: f[1]}
		for i := 2; i+1 < len(f); i += 2 {
			r.metrics = append(r.metrics, metric{value: f[i], unit: f[i+1]})
		}
		out = append(out, r)
	}
	return out
}

// trimProcs drops the -GOMAXPROCS suffix go test adds to names.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 && !strings.ContainsAny(name[i+1:], "=/") {
		return name[:i]
	}
	return name
}

// soakFile holds the memory soak figure (bench/soak.md), written after a `make soak` run and
// copied into the report as it is.
const soakFile = "soak.md"

func render(m machineInfo, runs []benchRun, started time.Time, took time.Duration, soak string) string {
	var results []result
	for _, r := range runs {
		results = append(results, parse(r.output)...)
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmark results\n\n")
	w("Written by `make bench` (`go run ./bench/report`) on %s; the runs took %s. Do not edit by hand.\n\n",
		started.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	w("## Machine\n\n| | |\n| --- | --- |\n")
	w("| CPU | %s |\n| Cores | %s |\n| RAM | %s |\n| OS | %s |\n| Go | %s |\n| Synapse | %s |\n| PostgreSQL | %s |\n\n",
		m.cpu, m.cores, m.ram, m.kernel, m.goVersion, m.synapse, m.postgres)
	w("The machine may be shared with other work while the benchmarks run; times are wall-clock.\n\n")

	w("## Inputs\n\n")
	w("- **Synthetic directory** (`authentiktest.Synthetic`): N users, 200 groups of 2N/200 direct members each (every user in two groups), 500 rooms, room r mapped to group r mod 200 (so 500 rooms of 2N/200 members). Authentik pages of 100.\n")
	w("- **Requests per no-change cycle** (`bench.BenchmarkNoChangeCycle`): the reconciler in-process against the fake Authentik and an httptest homeserver that serves `/state`; rooms already hold their members; the first cycle (which records every member) is not counted. The minimum is the group tree's pages, the requests of the member read that costs Authentik less (the listing of groups with their members, or one read per mapped group), and one state read per room. Time per op includes the fakes serving the requests.\n")
	w("- **Authentik CPU per no-change cycle** (`bench.BenchmarkAuthentikCPU`): the same reconciler in appservice mode, N users in 100 groups of 2N/100 members (every user in two groups), each group mapped to its own room; the fake Authentik adds up what each answer would cost a real Authentik's server in CPU (`authentiktest.MeasuredCost`, measured on Authentik 2025.12.4: about 4 ms per user row of `core/users/`, 0.08 ms per member row of a group's `users_obj`; 10 ms per request is assumed). *auto* is the bot's own member read, *user-listing* the one through `core/users/?groups_by_pk=` it replaced (measured on the real Authentik at 10,000 users: 81 s of CPU, 82–100 s of wall time). Wall time is the cycle against the fakes, which answer far faster than Authentik. Target: at most 2 s of Authentik CPU per cycle at 10,000 users.\n")
	w("- **Planner** (`plan.BenchmarkMakePlan`): `MakePlan` alone, 200 groups, 500 rooms; *no-change* has every member joined and tracked, *from-empty* adds everyone.\n")
	w("- **Convergence** (`e2e.BenchmarkConvergence`): the real binary in appservice mode against the real Synapse; 1,000 users in 10 groups of 100, each group mapped (force join) to its own new room; time of the bot's first cycle, which does every join. Baseline: the same requests (the bot's invite, then the user's join through the appservice) sent straight to Synapse by 8 workers (the bot's default `max_concurrent_writes`).\n")
	w("- **Peak memory** (`bench.BenchmarkPeakRSS`): the real binary (client mode) with its state in PostgreSQL, 50,000 users, 200 groups, 500 rooms (250,000 memberships) served by the fakes; peak RSS (VmHWM from /proc) over start-up, the first cycle (which records every membership in Postgres) and one no-change cycle; *default* is the program as shipped (it sets GOGC=50 unless GOGC is set), *GOGC=100* is Go's own default, *appservice* is the default in appservice mode, where the room cache keeps every room's state between cycles (the fake homeserver pushes no events, so each room is read once, at start-up; the benchmark fails otherwise). Target: under 100 MB.\n")
	w("- **Push to Matrix** (`e2e.BenchmarkWebhookToJoin`, `e2e.BenchmarkSCIMToJoin`, `e2e.BenchmarkWebhookBurst`): the real binary in appservice mode (force join, polling once an hour) against the real Synapse, default debounce windows; 50 users added one after another, each once the previous one has joined, by an Authentik webhook call (the directory read from the fake Authentik) or by Authentik's SCIM PATCH (`directory.source: scim`); the time from the call to the user's membership in Synapse, polled every 100 ms. The burst adds 100 users with a webhook call each, as fast as they can be sent, and counts the bot's cycles. Target: median under 500 ms, 95th percentile under 1 s.\n")
	w("- Other benchmarks found in the module are listed with their own figures below.\n\n")

	w("## Figures\n\n")
	writeRequests(&b, results)
	writeAuthentikCPU(&b, results)
	writeTable(&b, "Planner", results, func(r result) bool { return strings.HasPrefix(r.name, "BenchmarkMakePlan") },
		[]string{"ns/op", "B/op", "allocs/op", "actions"}, map[string]string{"ns/op": "time"})
	writeTable(&b, "Convergence against Synapse", results, func(r result) bool { return strings.HasPrefix(r.name, "BenchmarkConvergence") },
		[]string{"bot_s", "baseline_s", "ratio", "bot_joins/s"}, nil)
	writeTable(&b, "Peak memory", results, func(r result) bool { return strings.HasPrefix(r.name, "BenchmarkPeakRSS") },
		[]string{"peak_rss_MB", "start_to_first_cycle_s", "second_cycle_s"}, nil)
	pushLatency := func(r result) bool {
		return strings.HasPrefix(r.name, "BenchmarkWebhookToJoin") || strings.HasPrefix(r.name, "BenchmarkSCIMToJoin")
	}
	writeTable(&b, "Push to Matrix: latency", results, pushLatency, []string{"median_ms", "p95_ms", "changes"}, nil)
	writeTable(&b, "Push to Matrix: a burst", results, func(r result) bool { return strings.HasPrefix(r.name, "BenchmarkWebhookBurst") },
		[]string{"calls", "cycles", "all_joined_ms"}, nil)
	known := func(r result) bool {
		for _, p := range []string{"BenchmarkNoChangeCycle", "BenchmarkAuthentikCPU", "BenchmarkMakePlan", "BenchmarkConvergence", "BenchmarkPeakRSS",
			"BenchmarkWebhookToJoin", "BenchmarkSCIMToJoin", "BenchmarkWebhookBurst"} {
			if strings.HasPrefix(r.name, p) {
				return true
			}
		}
		return false
	}
	var others []result
	for _, r := range results {
		if !known(r) {
			others = append(others, r)
		}
	}
	if len(others) > 0 {
		w("### Other benchmarks\n\n| Package | Benchmark | Runs | Figures |\n| --- | --- | --- | --- |\n")
		for _, r := range others {
			var fs []string
			for _, m := range r.metrics {
				fs = append(fs, m.value+" "+m.unit)
			}
			w("| %s | %s | %s | %s |\n", strings.TrimPrefix(r.pkg, "authentik-matrix-sync/"), r.name, r.iters, strings.Join(fs, ", "))
		}
		w("\n")
	}

	if soak = strings.TrimSpace(soak); soak != "" {
		w("### Memory over time (soak)\n\nFrom `bench/%s`, written after a `make soak` run (an hour, not part of `make bench`).\n\n%s\n\n", soakFile, soak)
	}

	w("## Raw output\n\n")
	for _, r := range runs {
		status := "ok"
		if r.err != nil {
			status = "FAILED: " + r.err.Error()
			var exit *exec.ExitError
			if errors.As(r.err, &exit) {
				status = fmt.Sprintf("FAILED (exit %d)", exit.ExitCode())
			}
		}
		w("`go %s` — %s\n\n```\n%s```\n\n", strings.Join(r.args, " "), status, benchLines(r.output))
	}
	return b.String()
}

// benchLines keeps the lines of go test output that matter for the figures and failures,
// dropping the homeserver's and the bot's chatter.
func benchLines(output string) string {
	var b strings.Builder
	for _, line := range strings.Split(output, "\n") {
		for _, p := range []string{"Benchmark", "goos:", "goarch:", "pkg:", "cpu:", "PASS", "FAIL", "ok ", "--- ", "    ", "panic:"} {
			if strings.HasPrefix(line, p) {
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String()
}

func writeRequests(b *strings.Builder, results []result) {
	var rows []result
	for _, r := range results {
		if strings.HasPrefix(r.name, "BenchmarkNoChangeCycle") {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "### Requests per no-change cycle\n\n| Case | Authentik | Homeserver | Writes | Minimum (group pages + cheaper member read + one read per room) | Time per cycle |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(r.name, "BenchmarkNoChangeCycle/"),
			r.get("authentik_req/cycle"), r.get("homeserver_req/cycle"), r.get("writes/cycle"), r.get("minimum_req/cycle"), seconds(r.get("ns/op")))
	}
	b.WriteString("\n")
}

// writeAuthentikCPU is the table of BenchmarkAuthentikCPU: the modelled Authentik CPU of a
// no-change cycle next to its requests and wall time.
func writeAuthentikCPU(b *strings.Builder, results []result) {
	var rows []result
	for _, r := range results {
		if strings.HasPrefix(r.name, "BenchmarkAuthentikCPU/") {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("### Authentik CPU per no-change cycle\n\n| Case | Authentik CPU per cycle (modelled) | Authentik requests | Wall time per cycle (fakes) | Target |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		target := r.get("target_cpu_s/cycle")
		if target != "" {
			target = "≤ " + target + " s"
		}
		fmt.Fprintf(b, "| %s | %s s | %s | %s | %s |\n", strings.TrimPrefix(r.name, "BenchmarkAuthentikCPU/"),
			r.get("authentik_cpu_s/cycle"), r.get("authentik_req/cycle"), seconds(r.get("ns/op")), target)
	}
	b.WriteString("\n")
}

func writeTable(b *strings.Builder, title string, results []result, keep func(result) bool, units []string, rename map[string]string) {
	var rows []result
	for _, r := range results {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s\n\n| Case | Runs |", title)
	for _, u := range units {
		name := u
		if n, ok := rename[u]; ok {
			name = n
		}
		fmt.Fprintf(b, " %s |", name)
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" --- |", len(units)) + "\n")
	for _, r := range rows {
		_, caseName, _ := strings.Cut(r.name, "/")
		if caseName == "" {
			caseName = r.name
		}
		fmt.Fprintf(b, "| %s | %s |", caseName, r.iters)
		for _, u := range units {
			v := r.get(u)
			if u == "ns/op" {
				v = seconds(v)
			}
			fmt.Fprintf(b, " %s |", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// seconds renders a ns/op figure readably.
func seconds(ns string) string {
	var v float64
	if _, err := fmt.Sscanf(ns, "%g", &v); err != nil || ns == "" {
		return ns
	}
	d := time.Duration(v)
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.String()
	}
}
