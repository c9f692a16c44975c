// Command demo shows authentik-matrix-sync at work without any infrastructure of one's own. It
// starts a throwaway Synapse, serves the fake Authentik seeded from
// cmd/fake-authentik/demo-seed.json, runs the bot against both, and prints the rooms' memberships
// every few seconds while they fill up. After a while it takes someone out of a group, so the
// grace period and the kick can be watched too.
//
// `make demo` runs it from the repository root. Everything it writes goes to .demo/, which each
// run deletes first.
//
//	go run ./e2e/demo                 run until Ctrl-C
//	go run ./e2e/demo -duration 2m    stop two minutes after the bot starts
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// The demo's fixed choices. Passwords are trivial on purpose: every server listens on loopback
// only and lives as long as the demo.
const (
	serverName     = "localhost"
	botUsername    = "syncbot"
	authentikToken = "demo-authentik-token"
	password       = "demo"

	syncInterval = 5 * time.Second
	gracePeriod  = 30 * time.Second

	// The bot's default user mapping, written into the config so that the accounts the demo
	// registers are the ones the bot looks for.
	mappingTemplate  = "@{username}:{server}"
	mappingAttribute = "matrix_id"

	// noAccountUser is left without a Matrix account, to show the bot skipping such users.
	noAccountUser = "frank"
	// leaver leaves leaverGroup after removeAfter, to show the grace period and the kick.
	leaver      = "erin"
	leaverGroup = "engineering"
)

// demoRoom is one room the demo creates and maps to a group.
type demoRoom struct {
	Name   string
	Alias  string // local part; the config names rooms by alias, readable and known before creation
	Group  string
	Method string
	Space  bool
}

func demoRooms() []demoRoom {
	return []demoRoom{
		{Name: "Staff", Alias: "staff", Group: "staff", Method: "invite", Space: true},
		{Name: "Engineering", Alias: "engineering", Group: "engineering", Method: "force"},
		{Name: "Admins", Alias: "admins", Group: "admins", Method: "force"},
	}
}

type options struct {
	duration    time.Duration
	removeAfter time.Duration
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 0, "stop this long after the bot starts (0: run until Ctrl-C)")
	flag.DurationVar(&o.removeAfter, "remove-after", 40*time.Second,
		fmt.Sprintf("take %s out of %s this long after the bot starts", leaver, leaverGroup))
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		if ctx.Err() != nil {
			// Ctrl-C during the set-up: whatever failed failed because of it.
			fmt.Fprintln(os.Stderr, "demo: interrupted")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// repoRoot walks up to go.mod, so the demo works from any directory of the checkout.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("find the repository root: no go.mod above " + wd + "; run the demo inside the checkout")
		}
	}
}
