// Command soak runs the real authentik-matrix-sync binary for a long time (one hour by default)
// against a real Synapse and the fake Authentik, with 1,000 users in 20 groups mapped to 20
// rooms, while it changes groups at random and breaks Authentik and the homeserver on a random
// schedule. An oracle follows every group change; at the end the report counts cycles, injected
// faults, wrongful removals and missed due removals (both must be 0) and the bot's memory.
//
//	go run ./cmd/soak -duration 5m        (or: SOAK_DURATION=5m make soak)
//
// It needs the Synapse virtualenv of the end-to-end tests (make synapse). Not part of CI.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are what a soak run varies.
type options struct {
	Duration time.Duration
	Users    int
	Rooms    int
	Interval time.Duration
	Grace    time.Duration
	Backoff  time.Duration
	Seed     int64
	Report   string
	Keep     bool
	// Sample is how often the bot's memory is read; Warmup is how long after the faults and
	// changes begin the memory may still grow (0: a quarter of Duration, at most 10 min).
	Sample    time.Duration
	Warmup    time.Duration
	MemoryCSV string
}

func main() {
	o := options{}
	dur := 1 * time.Hour
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "SOAK_DURATION %q: %v (write it as 5m or 1h)\n", v, err)
			os.Exit(2)
		}
		dur = d
	}
	flag.DurationVar(&o.Duration, "duration", dur, "how long to inject changes and faults (default: SOAK_DURATION, else 1h)")
	flag.IntVar(&o.Users, "users", 1000, "Authentik users (each with a Matrix account)")
	flag.IntVar(&o.Rooms, "rooms", 20, "groups, each mapped to its own room")
	flag.DurationVar(&o.Interval, "interval", 3*time.Second, "the bot's sync interval")
	flag.DurationVar(&o.Grace, "grace", 30*time.Second, "the bot's grace period before a removal")
	flag.DurationVar(&o.Backoff, "max-backoff", 20*time.Second, "the bot's back-off limit")
	flag.Int64Var(&o.Seed, "seed", time.Now().UnixNano(), "random seed (printed in the report, to replay a run)")
	flag.StringVar(&o.Report, "report", "soak-report.txt", "file the report is written to (as well as stdout)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the working directory (logs, Synapse data) after the run")
	flag.DurationVar(&o.Sample, "sample", 30*time.Second, "how often to read the bot's memory")
	flag.DurationVar(&o.Warmup, "warmup", 0, "time after the faults begin before the memory must stay flat (default: a quarter of -duration, at most 10m)")
	flag.StringVar(&o.MemoryCSV, "memory-csv", "soak-memory.csv", "file the memory samples are written to (CSV)")
	flag.Parse()
	if o.Warmup <= 0 {
		o.Warmup = min(10*time.Minute, o.Duration/4)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if rep != nil {
		text := rep.String()
		fmt.Print(text)
		if werr := os.WriteFile(o.Report, []byte(text), 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "write the report to %s: %v\n", o.Report, werr)
		} else {
			fmt.Printf("report written to %s\n", o.Report)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !rep.Passed() {
		os.Exit(1)
	}
}
