package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memSample is the bot's memory at one moment. Resident memory is Go's own (heap, stacks,
// runtime) plus what the SQLite library allocates outside Go's heap plus the mapped binary; the
// Go heap alone tells the first apart from the others.
type memSample struct {
	At     time.Time
	RSS    int64 // VmRSS, bytes
	Anon   int64 // RssAnon: memory the process allocated
	File   int64 // RssFile: the binary and other mapped files
	GoHeap int64 // go_memstats_heap_inuse_bytes from the bot's /metrics; -1 if unread
}

// memSampler reads the bot's memory at a fixed interval for the whole run.
type memSampler struct {
	mu      sync.Mutex
	samples []memSample
}

// run samples every interval until ctx ends, writing each sample as a CSV line to out.
func (m *memSampler) run(ctx context.Context, w *world, every time.Duration, out io.Writer) {
	fmt.Fprintln(out, "time,rss_kib,anon_kib,file_kib,go_heap_inuse_kib")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, ok := w.memory(ctx); ok {
			m.mu.Lock()
			m.samples = append(m.samples, s)
			m.mu.Unlock()
			fmt.Fprintf(out, "%s,%d,%d,%d,%d\n", s.At.UTC().Format(time.RFC3339), s.RSS>>10, s.Anon>>10, s.File>>10, s.GoHeap>>10)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *memSampler) all() []memSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]memSample(nil), m.samples...)
}

// memory reads the bot's resident memory from /proc and its Go heap from its metrics.
func (w *world) memory(ctx context.Context) (memSample, bool) {
	if w.botCmd == nil || w.botCmd.Process == nil || !w.botRunning() {
		return memSample{}, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.botCmd.Process.Pid))
	if err != nil {
		return memSample{}, false
	}
	s := parseStatus(string(b))
	s.At, s.GoHeap = time.Now(), -1
	if s.RSS == 0 {
		return memSample{}, false
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+w.metrics+"/metrics", nil)
	if resp, err := w.http.Do(req); err == nil {
		if v, ok := metricValue(resp.Body, "go_memstats_heap_inuse_bytes"); ok {
			s.GoHeap = int64(v)
		}
		resp.Body.Close()
	}
	return s, true
}

// parseStatus reads VmRSS, RssAnon and RssFile (in kB) from the text of /proc/<pid>/status.
func parseStatus(text string) memSample {
	var s memSample
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			s.RSS = kb << 10
		case "RssAnon":
			s.Anon = kb << 10
		case "RssFile":
			s.File = kb << 10
		}
	}
	return s
}

// metricValue finds an unlabelled sample in the Prometheus text format.
func metricValue(r io.Reader, name string) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// memSummary is the bot's memory from the end of the warm-up to the end of the run.
type memSummary struct {
	Samples               int
	First, Min, Max, Last int64 // RSS, bytes
	HeapMin, HeapMax      int64 // Go heap in use, bytes; -1 if never read
	AnonFirst, AnonLast   int64
	FirstAt, LastAt       time.Time
	WarmupEnded           time.Time
	StartRSS              int64 // RSS at the first sample of the run, during the warm-up
}

// flatWithin is the bound the soak holds the resident memory to after the warm-up: its highest
// and lowest samples differ by less than this fraction of the first.
const flatWithin = 0.10

// summarize takes the samples from warmupEnd on; samples before it only give the RSS at start.
func summarize(samples []memSample, warmupEnd time.Time) memSummary {
	sum := memSummary{WarmupEnded: warmupEnd, HeapMin: -1, HeapMax: -1}
	if len(samples) > 0 {
		sum.StartRSS = samples[0].RSS
	}
	for _, s := range samples {
		if s.At.Before(warmupEnd) {
			continue
		}
		if sum.Samples == 0 {
			sum.First, sum.Min, sum.Max, sum.AnonFirst, sum.FirstAt = s.RSS, s.RSS, s.RSS, s.Anon, s.At
		}
		sum.Samples++
		sum.Min, sum.Max = min(sum.Min, s.RSS), max(sum.Max, s.RSS)
		sum.Last, sum.AnonLast, sum.LastAt = s.RSS, s.Anon, s.At
		if s.GoHeap >= 0 {
			if sum.HeapMin < 0 || s.GoHeap < sum.HeapMin {
				sum.HeapMin = s.GoHeap
			}
			sum.HeapMax = max(sum.HeapMax, s.GoHeap)
		}
	}
	return sum
}

// Spread is (max − min) / first after the warm-up.
func (m memSummary) Spread() float64 {
	if m.First == 0 {
		return 0
	}
	return float64(m.Max-m.Min) / float64(m.First)
}

// Flat reports whether the resident memory stayed within flatWithin after the warm-up; a run
// with fewer than two samples after it cannot tell and counts as flat.
func (m memSummary) Flat() bool { return m.Samples < 2 || m.Spread() < flatWithin }
