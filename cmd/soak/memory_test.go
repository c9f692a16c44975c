package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	text := "Name:\tauthentik-matri\nVmPeak:\t 1300000 kB\nVmRSS:\t   30000 kB\nRssAnon:\t   12000 kB\nRssFile:\t   18000 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"
	got := parseStatus(text)
	if got.RSS != 30000<<10 || got.Anon != 12000<<10 || got.File != 18000<<10 {
		t.Errorf("parseStatus = %+v; want RSS 30000 kB, anon 12000 kB, file 18000 kB", got)
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP go_memstats_heap_inuse_bytes x\n# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes_total 1\ngo_memstats_heap_inuse_bytes 4.194304e+06\n"
	if v, ok := metricValue(strings.NewReader(text), "go_memstats_heap_inuse_bytes"); !ok || v != 4194304 {
		t.Errorf("metricValue = %v, %v; want 4194304 (and not the _total line)", v, ok)
	}
	if _, ok := metricValue(strings.NewReader(text), "process_resident_memory_bytes"); ok {
		t.Error("metricValue found a metric that is not there")
	}
}

func TestSummarizeAfterWarmup(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const mb = 1 << 20
	at := func(min int, rss int64) memSample {
		return memSample{At: t0.Add(time.Duration(min) * time.Minute), RSS: rss * mb, Anon: rss * mb / 2, GoHeap: 4 * mb}
	}
	tests := []struct {
		name      string
		samples   []memSample
		wantFirst int64
		wantMax   int64
		wantFlat  bool
	}{
		{"growth during the warm-up does not count", []memSample{at(0, 20), at(5, 28), at(10, 30), at(30, 31), at(60, 31)}, 30, 31, true},
		{"growth after the warm-up does", []memSample{at(0, 20), at(10, 25), at(30, 27), at(60, 31)}, 25, 31, false},
		{"one sample cannot tell", []memSample{at(0, 20), at(10, 25)}, 25, 25, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := summarize(tt.samples, t0.Add(10*time.Minute))
			if m.First != tt.wantFirst*mb || m.Max != tt.wantMax*mb || m.Flat() != tt.wantFlat {
				t.Errorf("summary first %d max %d flat %v (spread %.3f); want first %d MiB, max %d MiB, flat %v",
					m.First/mb, m.Max/mb, m.Flat(), m.Spread(), tt.wantFirst, tt.wantMax, tt.wantFlat)
			}
			if m.StartRSS != 20*mb || m.HeapMax != 4*mb {
				t.Errorf("start RSS %d, heap max %d; want 20 MiB and 4 MiB", m.StartRSS/mb, m.HeapMax/mb)
			}
		})
	}
}
