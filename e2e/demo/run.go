package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

// Ports docs/development.md (Demo) and the printed instructions mention; any free port is used instead when one
// is taken (a local Synapse on 8008, a second demo).
const (
	preferredHomeserverPort = 8008
	preferredAppservicePort = 29333
	preferredAuthentikPort  = 9000
)

// run sets everything up, watches the rooms until ctx ends (or the -duration runs out), and then
// stops the bot, Synapse and the fake Authentik in that order.
func run(ctx context.Context, o options) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, ".demo")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete the previous demo's %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	out := newConsole(os.Stdout)

	out.say("Building the bot into .demo/ …")
	bin, err := buildBot(ctx, root, dir)
	if err != nil {
		return err
	}

	// The fake Authentik keeps its listener from here on, so its port cannot be taken meanwhile.
	akListener, err := listenPreferred(preferredAuthentikPort)
	if err != nil {
		return fmt.Errorf("listen for the fake Authentik: %w", err)
	}
	seed, notes, err := readSeed(root)
	if err != nil {
		akListener.Close()
		return err
	}
	fake := authentiktest.NewHandler(authentikToken)
	if err := fake.Load(seed); err != nil {
		akListener.Close()
		return fmt.Errorf("load the demo seed into the fake Authentik: %w", err)
	}
	akServer := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = akServer.Serve(akListener) }()
	defer akServer.Close()
	akURL := "http://" + akListener.Addr().String()
	for _, n := range notes {
		out.say(n)
	}

	hsPort, err := preferredPort(preferredHomeserverPort)
	if err != nil {
		return err
	}
	asPort, err := preferredPort(preferredAppservicePort)
	if err != nil {
		return err
	}
	healthPort, err := preferredPort(0)
	if err != nil {
		return err
	}
	cfg := botConfig{
		HomeserverURL:  fmt.Sprintf("http://127.0.0.1:%d", hsPort),
		ServerName:     serverName,
		Registration:   filepath.Join(dir, "registration.yaml"),
		AppservicePort: asPort,
		BotUsername:    botUsername,
		AuthentikURL:   akURL,
		AuthentikToken: authentikToken,
		Interval:       syncInterval,
		GracePeriod:    gracePeriod,
		Rooms:          demoRooms(),
		Template:       mappingTemplate,
		Attribute:      mappingAttribute,
		DataDir:        filepath.Join(dir, "data"),
		HealthListen:   fmt.Sprintf("127.0.0.1:%d", healthPort),
	}
	configPath := filepath.Join(dir, "config.yaml")
	if err := writeBotConfig(configPath, cfg); err != nil {
		return err
	}
	if err := generateRegistration(ctx, bin, configPath, cfg.Registration); err != nil {
		return err
	}

	out.say("Starting Synapse (%s) …", cfg.HomeserverURL)
	hs, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(dir, "synapse"), ServerName: serverName,
		Port: hsPort, AppserviceRegistrations: []string{cfg.Registration}})
	if err != nil {
		return fmt.Errorf("start Synapse (is it installed? `make synapse`): %w", err)
	}
	defer func() {
		if err := hs.Stop(); err != nil {
			out.say("%v", err)
		}
	}()

	bot, err := prepareMatrix(ctx, hs, cfg.Registration)
	if err != nil {
		return err
	}
	people, err := registerPeople(ctx, hs, fake, seed)
	if err != nil {
		return err
	}
	rooms, err := createRooms(ctx, hs, bot, demoRooms())
	if err != nil {
		return err
	}
	out.say("Synapse has the admin, %d demo users (not %s) and the rooms %s; the bot is in each with power level 100.",
		countAccounts(people), noAccountUser, roomList(rooms))

	out.say("Starting the bot (log: .demo/bot.log; a summary follows) …")
	out.restartClock()
	proc, err := startBot(bin, configPath, dir, newLogSummary(out, rooms))
	if err != nil {
		return err
	}
	defer proc.stop(out)

	printLookAround(out, cfg, hs.AdminID, akURL)

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	err = watch(ctx, out, hs, proc, rooms, people, akURL, o.removeAfter)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		out.say("Stopping the bot and Synapse … (.demo/ keeps the config, logs and databases until the next run)")
		return nil
	}
	return err
}

// watch prints the rooms every sync interval and takes the leaver out of their group once.
func watch(ctx context.Context, out *console, hs *harness.Synapse, proc *botProcess, rooms []createdRoom,
	people []person, akURL string, removeAfter time.Duration) error {
	tick := time.NewTicker(syncInterval)
	defer tick.Stop()
	removal := time.NewTimer(removeAfter)
	defer removal.Stop()
	var last string
	show := func() {
		table, err := membershipTable(ctx, hs, rooms, people)
		switch {
		case err != nil && ctx.Err() == nil:
			out.event("could not read the rooms: %v", err)
		case err != nil:
		case table == last:
			out.event("rooms unchanged")
		default:
			out.block(table)
			last = table
		}
	}
	show()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-proc.done:
			return fmt.Errorf("the bot exited (%v); the end of .demo/bot.log says why", proc.err)
		case <-removal.C:
			if err := removeMember(ctx, akURL, leaverGroup, leaver); err != nil {
				out.event("%v", err)
				continue
			}
			out.event("Took %[1]s out of the Authentik group %[2]s through the fake's control API. That takes %[1]s out of\n"+
				"         staff too (it counts its subgroup %[2]s's members), so the bot's next cycle schedules %[1]s's removal\n"+
				"         from Engineering and Staff, due after the %[3]s grace period.",
				leaver, leaverGroup, gracePeriod)
		case <-tick.C:
			show()
		}
	}
}

// listenPreferred listens on the given loopback port, or on a free one when it is taken.
func listenPreferred(port int) (net.Listener, error) {
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		return l, nil
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// preferredPort is listenPreferred for a server started later: the port is free now, and
// another process could take it before that server binds, in which case its start fails loudly.
func preferredPort(port int) (int, error) {
	l, err := listenPreferred(port)
	if err != nil {
		return 0, fmt.Errorf("find a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
