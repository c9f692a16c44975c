package chaos

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	seeds     = flag.Int("seeds", 200, "how many seeds TestChaos runs")
	firstSeed = flag.Uint64("seed-start", 1, "the first seed TestChaos runs")
	oneSeed   = flag.Uint64("seed", 0, "run only this seed (0: run -seeds seeds from -seed-start)")
)

// parallelSeeds is how many seeds run at once: more than the cores, since a seed spends part of
// its time waiting for the Authentik client to give up on a request held as a timeout.
const parallelSeeds = 4

// TestChaos runs the chaos schedule of every seed and fails with the step log of each seed that
// breaks the safety rule or, after its calm tail, the liveness checks.
func TestChaos(t *testing.T) {
	first, n := *firstSeed, uint64(*seeds)
	if *oneSeed != 0 {
		first, n = *oneSeed, 1
	}
	root := t.TempDir()
	results := make([]Result, n)
	todo := make(chan uint64)
	var wg sync.WaitGroup
	for range parallelSeeds {
		wg.Go(func() {
			for i := range todo {
				dir := filepath.Join(root, strconv.FormatUint(first+i, 10))
				results[i] = Run(first+i, dir)
				_ = os.RemoveAll(dir)
			}
		})
	}
	for i := range n {
		todo <- i
	}
	close(todo)
	wg.Wait()
	failed := 0
	for _, res := range results {
		t.Run(fmt.Sprintf("seed=%d", res.Seed), func(t *testing.T) {
			if len(res.Failures) > 0 || testing.Verbose() && n == 1 {
				report(t, res)
			}
		})
		if len(res.Failures) > 0 {
			failed++
		}
	}
	if failed > 0 {
		t.Logf("%d of %d seeds failed", failed, n)
	}
}

// FuzzChaos lets go test -fuzz pick the seeds.
func FuzzChaos(f *testing.F) {
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, seed uint64) {
		report(t, Run(seed, t.TempDir()))
	})
}

// report prints a seed's parameters, the command that runs it again and its step log, and fails
// the test if the seed broke a rule.
func report(t *testing.T, res Result) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s\n", res.Seed, res.Params)
	fmt.Fprintf(&b, "reproduce: go test ./chaos -run 'TestChaos$' -seed=%d -v\n", res.Seed)
	for _, line := range res.Log {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if len(res.Failures) == 0 {
		t.Log(b.String())
		return
	}
	fmt.Fprintf(&b, "seed %d broke %d rule(s):\n", res.Seed, len(res.Failures))
	for _, f := range res.Failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	t.Error(b.String())
}
