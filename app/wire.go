package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/health"
	"authentik-matrix-sync/mas"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/usermap"
)

func LoadConfig(path string) (*config.Config, error) {
	return config.Load(path, os.LookupEnv)
}

func newLogger(cfg *config.Config) zerolog.Logger {
	return loggerTo(cfg, os.Stderr, isTerminal(os.Stderr))
}

// loggerTo is the program's logger writing to out; terminal tells whether out is a terminal,
// which picks the format when logging.format is auto and allows colours in console format.
func loggerTo(cfg *config.Config, out io.Writer, terminal bool) zerolog.Logger {
	w := out
	format := cfg.Logging.Format
	if format == "" || format == config.LogFormatAuto {
		format = config.LogFormatJSON
		if terminal {
			format = config.LogFormatConsole
		}
	}
	if format == config.LogFormatConsole {
		// Colour codes would be bytes of noise in a file or a log collector.
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.DateTime, NoColor: !terminal}
	}
	return zerolog.New(w).Level(logLevel(cfg)).Hook(appservice.WithoutClientRequestLines{}).With().Timestamp().Logger()
}

// logLevel is logging.level, info when it is unset or unknown.
func logLevel(cfg *config.Config) zerolog.Level {
	level, err := zerolog.ParseLevel(cfg.Logging.Level)
	if err != nil || cfg.Logging.Level == "" {
		return zerolog.InfoLevel
	}
	return level
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// world holds the parts every subcommand builds from the config.
type world struct {
	cfg    *config.Config
	log    zerolog.Logger
	matrix *appservice.Matrix
	ak     *authentik.Client
	dir    *usermap.Directory
	// created records rooms made for create_if_missing; nil (plan mode) never creates any.
	created createdRoomStore
	// mas is Matrix Authentication Service's admin API when it keeps the accounts (mas.go).
	mas *mas.Client
	// listeners are bound by runBot before anything else starts (listen.go); empty elsewhere.
	listeners boundListeners
	// aliases holds the alias each mapping configured by alias resolved to, by room: policy
	// fills it, roomNamer names rooms by it.
	aliases map[id.RoomID]string
}

func newWorld(cfg *config.Config, log zerolog.Logger) (*world, error) {
	return newWorldWith(cfg, log, nil)
}

// newWorldWith is newWorld with the upstream requests counted in m (nil: not counted).
func newWorldWith(cfg *config.Config, log zerolog.Logger, m *metrics.Metrics) (*world, error) {
	masClient, adminTokens, err := newMAS(cfg, m)
	if err != nil {
		return nil, err
	}
	mx, err := appservice.New(appservice.Options{
		HomeserverURL:  cfg.Homeserver.Address,
		Domain:         cfg.Homeserver.Domain,
		BotUserID:      id.UserID(cfg.Matrix.UserID),
		AccessToken:    cfg.Matrix.AccessToken,
		Appservice:     cfg.AppserviceMode(),
		ASToken:        cfg.Appservice.ASToken,
		RegistrationID: cfg.Appservice.ID,
		ForceJoinVia:   cfg.Matrix.ForceJoinVia,
		Log:            log, // appservice names its own component
		HTTPClient:     withLiveAccessToken(httpClientFor(m, metrics.ServiceHomeserver), cfg, log),
		AdminToken:     adminTokens,
	})
	if err != nil {
		return nil, err
	}
	ak, err := authentik.New(cfg.Authentik.URL, cfg.Authentik.Token, authentik.Options{
		PageSize: cfg.Authentik.PageSize, Timeout: cfg.Authentik.Timeout,
		HTTPClient: httpClientFor(m, metrics.ServiceAuthentik), Token: authentikToken(cfg, log),
	})
	if err != nil {
		return nil, err
	}
	mapper, err := usermap.New(cfg.UserMapping.Template, cfg.UserMapping.Attribute, cfg.UserMapping.Server)
	if err != nil {
		return nil, err
	}
	return &world{cfg: cfg, log: log, matrix: mx, ak: ak, mas: masClient,
		dir: &usermap.Directory{Source: ak, Mapper: mapper, Log: log, Profiles: profileSource(cfg)}}, nil
}

// policy resolves the mappings' rooms (aliases need the homeserver) into the reconciler's policy.
func (w *world) policy(ctx context.Context) (plan.Policy, error) {
	cfg := w.cfg
	p := plan.Policy{
		GracePeriod:  cfg.Sync.GracePeriod,
		RemoveAction: plan.RemoveAction(cfg.Sync.RemoveAction),
		Bot:          w.matrix.BotUserID(),
		Protected:    protection(cfg),
	}
	p.Deactivated, p.Profiles = lifecyclePolicy(cfg)
	for _, m := range cfg.Sync.Mappings {
		sm, err := w.mapping(ctx, m)
		if errors.Is(err, errWouldCreate) {
			w.log.Warn().Err(err).Msg("Mapping left out of the plan")
			continue
		}
		if appservice.IsAliasNotFound(err) {
			// A per-mapping problem, like a group Authentik does not have: the other mappings
			// run, instead of the whole bot stopping (and restarting in a loop under a
			// container's restart policy).
			w.log.Error().Err(err).Str("group", m.Group).Str("room", m.Room).
				Msg("Mapping left out: its room alias does not exist; create the room with this alias (or fix the alias, or add create_if_missing), then restart the bot")
			continue
		}
		if err != nil {
			return plan.Policy{}, err
		}
		p.Mappings = append(p.Mappings, sm)
	}
	return p, nil
}

func (w *world) needForce() bool {
	for _, m := range w.cfg.Sync.Mappings {
		if m.Method == "force" || (m.Method == "" && w.cfg.Sync.JoinMethod == "force") {
			return true
		}
	}
	return false
}

// cycleSource lets the health endpoint start before the reconciler exists.
type cycleSource struct {
	mu  sync.Mutex
	rec *reconcile.Reconciler
}

func (c *cycleSource) set(r *reconcile.Reconciler) { c.mu.Lock(); c.rec = r; c.mu.Unlock() }

func (c *cycleSource) LastCycle() *reconcile.CycleResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rec == nil {
		return nil
	}
	return c.rec.LastCycle()
}

func RunBot(ctx context.Context, path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	for _, warning := range cfg.Warnings {
		log.Warn().Msg(warning)
	}
	log.Info().Str("version", Version).Str("config", configName(path)).Bool("appservice", cfg.AppserviceMode()).
		Int("mappings", len(cfg.Sync.Mappings)).Msg("Starting authentik-matrix-sync")
	bound, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	defer bound.close()

	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	m := newMetrics()
	noteNewestBackup(m, st, log)
	w, err := newWorldWith(cfg, log, m)
	if err != nil {
		return err
	}
	w.created, w.listeners = creatorOf(st), *bound
	w.useExternalIDs(st, false)
	scimState, err := w.useSCIM(ctx, st)
	if err != nil {
		return err
	}

	// The long-running parts run in one group: the first to fail stops the others (its error is
	// the bot's), and the deferred cancel and wait give them up to shutdownBudget to stop before
	// the store closes. An error after a signal is part of stopping, not a failure.
	signalled := ctx
	ctx, cancel := context.WithCancel(ctx)
	group, ctx := errgroup.WithContext(ctx)
	defer func() { cancel(); waitStopped(group.Wait, shutdownBudget, log) }()
	goRun := func(f func() error) {
		group.Go(func() error {
			if err := f(); err != nil && signalled.Err() == nil {
				return err
			}
			return nil
		})
	}
	cycles, lead := &cycleSource{}, health.NewLeadership(nil)
	events, started := &eventSink{}, time.Now()
	if bound.metrics != nil {
		goRun(func() error {
			return health.ServeListener(ctx, bound.metrics, listenerHandler(cfg, m, cycles, st, lead))
		})
	}
	rooms, observeRooms := roomsFor(cfg, w)
	if cfg.AppserviceMode() {
		srv, err := appservice.NewServer(appservice.ServerOptions{HSToken: cfg.Appservice.HSToken, OnEvent: events.handle,
			Log: log, OnReceive: observeRooms})
		if err != nil {
			return err
		}
		goRun(func() error {
			if err := srv.Serve(ctx, bound.appservice); err != nil {
				return fmt.Errorf("appservice listener on %s: %w", appserviceAddr(cfg), err)
			}
			return nil
		})
	}

	policy, err := startup(ctx, w, rooms)
	if err != nil {
		if signalled.Err() != nil {
			return nil
		}
		return err
	}
	w.checkLifecycle(ctx)
	admin, err := newAdminRoom(ctx, cfg, w, st, m, policy, started, log)
	if err != nil {
		return err
	}
	audit, err := startAuditLog(ctx, cfg, st, log, goRun)
	if err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Options{
		Directory: w.dir, Rooms: rooms, Store: st, Backup: m.CountBackups(st), Policy: policy,
		Interval: cfg.Sync.Interval, MaxBackoff: cfg.Sync.MaxBackoff, Log: log, Observer: admin.observer(observers{m, audit}),
		Steering: admin.steering(), Guard: guardLimits(cfg),
		Hierarchy: w.matrix.Spaces(), Spaces: spaceStoreOf(st),
		MaxConcurrentWrites: cfg.Sync.MaxConcurrentWrites, Hook: crashHook(), Accounts: w.accounts(),
		AccountDirectory: w.dir, Profiles: w.matrix,
	})
	cycles.set(rec)
	mountSCIM, err := startSCIM(ctx, cfg, w, scimState, m, rec, goRun)
	if err != nil {
		return err
	}
	startWebhook(ctx, cfg, w, m, rec, goRun, mountSCIM)
	admin.start(ctx, goRun, rec, events)
	goRun(func() error { return runAsLeader(ctx, cfg, log, admin.leaderHook(lead.Tracking(m.SetLeader)), rec.Run) })
	<-ctx.Done()
	if signalled.Err() != nil {
		log.Info().Msg("Shutting down: the cycle in progress stops after its current action")
		return nil
	}
	return context.Cause(ctx)
}

// startup checks the homeserver and resolves the rooms, retrying while the homeserver is
// unreachable: the bot usually starts alongside it. Rooms are read through rooms, so that in
// appservice mode the first cycle finds them in the room cache instead of reading them again.
// It gives up when ctx ends: a signal, or a listener of the bot's group that failed (its error
// is ctx's cause).
func startup(ctx context.Context, w *world, rooms reconcile.Rooms) (plan.Policy, error) {
	delay := 2 * time.Second
	for {
		err := w.matrix.Check(ctx, w.needForce())
		if err == nil {
			err = w.checkMAS(ctx)
		}
		if err == nil {
			err = w.checkExternalIDs(ctx)
		}
		var policy plan.Policy
		if err == nil {
			policy, err = w.policy(ctx)
		}
		if err == nil {
			w.joinMappedRooms(ctx, rooms, policy)
			w.log.Info().Str("bot", string(w.matrix.BotUserID())).Msg("Homeserver checks passed")
			return policy, nil
		}
		if appservice.IsPermanent(err) {
			return plan.Policy{}, err
		}
		w.log.Warn().Err(err).Float64("retry_in_seconds", delay.Seconds()).Msg("Start-up checks failed; retrying")
		select {
		case <-ctx.Done():
			return plan.Policy{}, context.Cause(ctx)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

// joinMappedRooms accepts the bot's pending invites to mapped rooms it has not joined yet. A room
// it still cannot read is reported by every cycle until the operator invites the bot.
func (w *world) joinMappedRooms(ctx context.Context, rooms reconcile.Rooms, policy plan.Policy) {
	seen := map[id.RoomID]bool{}
	for _, m := range policy.Mappings {
		if seen[m.Room] {
			continue
		}
		seen[m.Room] = true
		if _, err := rooms.RoomState(ctx, m.Room); !errors.Is(err, appservice.ErrBotNotInRoom) {
			continue
		}
		if err := w.matrix.JoinRoom(ctx, m.Room); err != nil {
			w.log.Warn().Err(err).Str("room", string(m.Room)).Msg("The bot is not in a mapped room")
			continue
		}
		w.log.Info().Str("room", string(m.Room)).Msg("Joined a mapped room")
	}
}

func configName(path string) string {
	if path == "" {
		return "(environment only)"
	}
	return path
}

// PrintPlan prints the plan, or with why.User set the explanation of one user (plan --why).
func PrintPlan(ctx context.Context, path string, why WhyRequest, out io.Writer) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	// The metrics go nowhere; their transport logs each request at debug level.
	w, err := newWorldWith(cfg, log, newMetrics())
	if err != nil {
		return err
	}
	w.useExternalIDs(st, true)
	if _, err := w.useSCIM(ctx, st); err != nil {
		return err
	}
	policy, err := w.policy(ctx)
	if err != nil {
		return err
	}
	rec := reconcile.New(reconcile.Options{Directory: w.dir, Rooms: w.matrix, Store: st, Policy: policy, Interval: cfg.Sync.Interval, Log: log,
		Steering: planSteering(cfg, st), Hierarchy: w.matrix.Spaces(), Spaces: spaceStoreOf(st), AccountDirectory: w.dir})
	// Rooms are shown by their alias or name as well as by their ID.
	namer := w.roomNamer()
	if why.User != "" {
		if strings.HasPrefix(string(why.Room), "#") {
			room, err := w.matrix.ResolveRoom(ctx, string(why.Room))
			if err != nil {
				return fmt.Errorf("plan -room %s: %w", why.Room, err)
			}
			why.Room = room
		}
		return printWhy(ctx, rec, st, why, namer, out)
	}
	planned, err := rec.Preview(ctx)
	if err != nil {
		return err
	}
	var rooms []id.RoomID
	for _, a := range planned.Actions {
		rooms = append(rooms, a.Target().Room)
	}
	for _, sk := range planned.Skipped {
		rooms = append(rooms, sk.Action.Target().Room)
	}
	for _, wn := range planned.Warnings {
		rooms = append(rooms, wn.Room)
	}
	out = labelWriter{w: out, r: namer.replacer(ctx, rooms)}
	for _, a := range planned.Actions {
		fmt.Fprintln(out, plan.Describe(a))
	}
	for _, s := range planned.Skipped {
		fmt.Fprintf(out, "skipped: %s (%s)\n", plan.Describe(s.Action), s.Reason)
	}
	for _, warning := range planned.Warnings {
		fmt.Fprintln(out, "warning:", warning.String())
	}
	writes := 0
	for _, a := range planned.Actions {
		if plan.IsMatrixWrite(a) {
			writes++
		}
	}
	fmt.Fprintf(out, "%d action(s), %d of them in Matrix rooms, %d skipped, %d warning(s); nothing was changed\n",
		len(planned.Actions), writes, len(planned.Skipped), len(planned.Warnings))
	return nil
}

// labelWriter writes through r, which names rooms by their configured alias.
type labelWriter struct {
	w io.Writer
	r *strings.Replacer
}

func (l labelWriter) Write(p []byte) (int, error) {
	if _, err := l.r.WriteString(l.w, string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
