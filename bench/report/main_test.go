package main

import (
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)

const sample = `goos: linux
goarch: amd64
pkg: authentik-matrix-sync/sync
cpu: AMD EPYC
BenchmarkMakePlan/users=10000/rooms=500/no-change-2         	      24	  46186378 ns/op	         0 actions	12288935 B/op	  160033 allocs/op
PASS
pkg: authentik-matrix-sync/bench
BenchmarkAuthentikCPU/users=10000/groups=100/read=auto-2         	       1	 749314457 ns/op	         1.650 authentik_cpu_s/cycle	         5.000 authentik_req/cycle	         2.000 target_cpu_s/cycle
BenchmarkAuthentikCPU/users=10000/groups=100/read=user-listing-2 	       1	1907149850 ns/op	        82.01 authentik_cpu_s/cycle	       201.0 authentik_req/cycle
pkg: authentik-matrix-sync/e2e
BenchmarkWebhookToJoin-2   	       1	9000000000 ns/op	       812.0 median_ms	      1400 p95_ms
2026-11-27 03:13:38,066 WARNING synapse.config.logger: noise
BenchmarkConvergence-2   	       1	387106301194 ns/op	       183.4 baseline_s	         4.923 bot_joins/s	       203.1 bot_s	         1.107 ratio
ok  	authentik-matrix-sync/e2e	424.480s
`

func TestParseKeepsEveryBenchmark(t *testing.T) {
	got := parse(sample)
	if len(got) != 5 {
		t.Fatalf("parsed %d benchmarks, want 5: %+v", len(got), got)
	}
	got = append(got[:1], got[3:]...) // the Authentik CPU lines: see TestRenderPricesAuthentikCPU
	if got[0].name != "BenchmarkMakePlan/users=10000/rooms=500/no-change" || got[0].pkg != "authentik-matrix-sync/sync" || got[0].get("allocs/op") != "160033" {
		t.Errorf("planner line parsed as %+v", got[0])
	}
	if got[1].name != "BenchmarkWebhookToJoin" || got[1].get("median_ms") != "812.0" || got[1].get("p95_ms") != "1400" {
		t.Errorf("webhook line parsed as %+v", got[1])
	}
	if got[2].get("ratio") != "1.107" || got[2].pkg != "authentik-matrix-sync/e2e" {
		t.Errorf("convergence line parsed as %+v", got[2])
	}
}

func TestRenderListsUnknownBenchmarks(t *testing.T) {
	out := render(machineInfo{cpu: "test cpu", cores: "2"}, []benchRun{{args: []string{"test"}, output: sample}}, testTime, 0, "")
	for _, want := range []string{"| CPU | test cpu |", "BenchmarkWebhookToJoin", "812.0 median_ms", "| 1.107 |", "### Planner", "46.19ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "noise") {
		t.Error("the raw output keeps log chatter")
	}
}

func TestRenderPricesAuthentikCPU(t *testing.T) {
	out := render(machineInfo{}, []benchRun{{args: []string{"test"}, output: sample}}, testTime, 0, "")
	for _, want := range []string{"### Authentik CPU per no-change cycle",
		"| users=10000/groups=100/read=auto | 1.650 s | 5.000 | 749.31ms | ≤ 2.000 s |",
		"| users=10000/groups=100/read=user-listing | 82.01 s | 201.0 | 1.91s |  |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| bench | BenchmarkAuthentikCPU") {
		t.Error("the Authentik CPU figures are listed again among the other benchmarks")
	}
}

func TestRenderKeepsTheSoakFigure(t *testing.T) {
	out := render(machineInfo{}, []benchRun{{args: []string{"test"}, output: sample}}, testTime, 0, "| RSS after warm-up | 27.9-28.8 MB |\n")
	if !strings.Contains(out, "### Memory over time (soak)") || !strings.Contains(out, "| RSS after warm-up | 27.9-28.8 MB |") {
		t.Errorf("the soak figure is not in the report:\n%s", out)
	}
	if strings.Index(out, "### Memory over time (soak)") > strings.Index(out, "## Raw output") {
		t.Error("the soak figure comes after the raw output")
	}
}
