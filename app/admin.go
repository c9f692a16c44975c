package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/adminroom"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// eventSink hands the homeserver's events to the admin room once it exists; events that arrive
// earlier predate the bot's start and would be dropped anyway.
type eventSink struct {
	mu  sync.Mutex
	bot *adminroom.Bot
}

func (e *eventSink) set(b *adminroom.Bot) { e.mu.Lock(); e.bot = b; e.mu.Unlock() }

func (e *eventSink) handle(ctx context.Context, evt *event.Event) {
	e.mu.Lock()
	b := e.bot
	e.mu.Unlock()
	if b != nil {
		b.HandleEvent(ctx, evt)
	}
}

// adminRoom is the admin room's wiring; a nil *adminRoom means none is configured.
type adminRoom struct {
	bot *adminroom.Bot
	// follow reads the room through /sync in client mode; nil in appservice mode, where the
	// homeserver pushes the events.
	follow func(context.Context) error
}

func guardLimits(cfg *config.Config) plan.GuardLimits {
	return plan.GuardLimits{MaxRemovals: cfg.Sync.MaxRemovalsPerCycle, MaxFraction: cfg.Sync.MaxRemovalFraction}
}

// newAdminRoom builds the admin room if one is configured. Its backups (!sync backup) are
// manual ones, timed in m.
func newAdminRoom(ctx context.Context, cfg *config.Config, w *world, st stateStore, m *metrics.Metrics, policy plan.Policy, started time.Time, log zerolog.Logger) (*adminRoom, error) {
	if cfg.Admin.Room == "" {
		return nil, nil
	}
	as, ok := st.(adminroom.Store)
	if !ok {
		return nil, fmt.Errorf("the %T state store cannot keep the admin room's state", st)
	}
	room, err := w.matrix.ResolveRoom(ctx, cfg.Admin.Room)
	if err != nil {
		return nil, fmt.Errorf("admin room %s: %w", cfg.Admin.Room, err)
	}
	admins := make([]id.UserID, 0, len(cfg.Admin.Admins))
	for _, a := range cfg.Admin.Admins {
		admins = append(admins, id.UserID(a))
	}
	bot := adminroom.New(adminroom.Options{Room: room, Bot: w.matrix.BotUserID(), Admins: admins,
		MinPowerLevel: cfg.Admin.MinPowerLevel, Prefix: cfg.Admin.CommandPrefix, Matrix: w.matrix, Store: as,
		Backup: m.TimeBackups(manualBackups{st}), Policy: policy, Doctor: w.doctorReport, Interval: cfg.Sync.Interval, Started: started, Log: log,
		ResolveRoom: w.matrix.ResolveRoom, RoomName: w.roomNamer().name})
	if err := bot.Join(ctx); err != nil {
		log.Warn().Err(err).Str("room", string(room)).Msg("Not in the admin room yet: invite the bot (a listed admin's invite is accepted)")
	}
	a := &adminRoom{bot: bot}
	if !cfg.AppserviceMode() {
		a.follow = func(ctx context.Context) error { return w.matrix.FollowRoom(ctx, room, bot.HandleEvent) }
	}
	return a, nil
}

// steering is the reconciler's Steering: the admin room's, or none.
func (a *adminRoom) steering() reconcile.Steering {
	if a == nil {
		return nil
	}
	return a.bot
}

// observer adds the admin room to the metrics observer.
func (a *adminRoom) observer(m reconcile.Observer) reconcile.Observer {
	if a == nil {
		return m
	}
	return observers{m, a.bot}
}

// leaderHook tells the admin room about leadership changes besides setLeader.
func (a *adminRoom) leaderHook(setLeader func(bool)) func(bool) {
	if a == nil {
		return setLeader
	}
	return func(leader bool) {
		setLeader(leader)
		a.bot.LeaderChanged(leader)
	}
}

// start attaches the reconciler and starts the admin room's loops.
func (a *adminRoom) start(ctx context.Context, goRun func(func() error), rec *reconcile.Reconciler, events *eventSink) {
	if a == nil {
		return
	}
	a.bot.SetCycles(rec)
	events.set(a.bot)
	goRun(func() error { return a.bot.Run(ctx) })
	if a.follow != nil {
		goRun(func() error { return a.follow(ctx) })
	}
}

// observers tells several observers in turn.
type observers []reconcile.Observer

func (os observers) ActionFinished(kind string, room id.RoomID, result string) {
	for _, o := range os {
		o.ActionFinished(kind, room, result)
	}
}

func (os observers) CycleFinished(res reconcile.CycleResult, stats reconcile.CycleStats) {
	for _, o := range os {
		o.CycleFinished(res, stats)
	}
}
