package adminroom

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// DefaultPrefix starts every command.
const DefaultPrefix = "!sync"

const (
	// refusalEvery bounds the refusals one non-admin gets, so nobody can make the bot spam.
	refusalEvery = time.Minute
	// noticeGap spaces the bot's own notices; many events in one cycle make one grouped notice.
	noticeGap   = 2 * time.Second
	noticeQueue = 64
	// clockSlack lets through commands stamped a little before the start by a homeserver whose
	// clock differs from ours.
	clockSlack = 5 * time.Second
)

// Matrix is what the admin room needs of the homeserver.
type Matrix interface {
	SendNotice(ctx context.Context, room id.RoomID, plain, html string) error
	RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error)
	JoinRoom(ctx context.Context, room id.RoomID) error
}

// Store is the state the admin room reads and changes.
type Store interface {
	LoadState(ctx context.Context) (plan.State, error)
	DeletePending(ctx context.Context, room id.RoomID, user id.UserID) error
	AppendAudit(ctx context.Context, entries ...plan.AuditEntry) error
	Audit(ctx context.Context, target id.UserID, limit int) ([]plan.AuditEntry, error)
	PutExemption(ctx context.Context, e plan.Exemption) error
	DeleteExemption(ctx context.Context, room id.RoomID, user id.UserID) (bool, error)
	DeleteExemptions(ctx context.Context, user id.UserID) (int, error)
	Exemptions(ctx context.Context) ([]plan.Exemption, error)
	SetPaused(ctx context.Context, paused bool) error
	Paused(ctx context.Context) (bool, error)
	HoldBatch(ctx context.Context, b plan.HeldBatch) (created bool, status string, err error)
	Batch(ctx context.Context, id string) (plan.HeldBatch, error)
	OpenBatches(ctx context.Context) ([]plan.HeldBatch, error)
	DecideBatch(ctx context.Context, id, from, to string, by id.UserID) error
}

// Cycles is the reconciler as the commands use it.
type Cycles interface {
	LastCycle() *reconcile.CycleResult
	Preview(ctx context.Context) (plan.Plan, error)
	// Snapshot is Preview with what the plan was made from, for !sync why.
	Snapshot(ctx context.Context) (reconcile.Snapshot, error)
	RunCycle(ctx context.Context) reconcile.CycleResult
	Trigger()
}

// Options configures the admin room.
type Options struct {
	Room id.RoomID
	Bot  id.UserID
	// Admins may always command the bot; MinPowerLevel > 0 also lets anyone whose power level in
	// the admin room (as the homeserver reports it) is at least that high.
	Admins        []id.UserID
	MinPowerLevel int
	Prefix        string
	Matrix        Matrix
	Store         Store
	Backup        reconcile.Backuper
	// Doctor runs the same checks as the doctor subcommand and returns its report; nil leaves
	// !sync doctor unavailable.
	Doctor func(ctx context.Context) doctor.Report
	// ResolveRoom turns a room alias an admin typed into the room's ID; nil refuses aliases.
	ResolveRoom func(ctx context.Context, alias string) (id.RoomID, error)
	// RoomName names a room for replies (its alias); "" or nil leaves the ID alone.
	RoomName func(ctx context.Context, room id.RoomID) string
	Policy   plan.Policy
	Interval time.Duration
	// Started is when the process started: older commands are never answered.
	Started time.Time
	Now     func() time.Time
	Log     zerolog.Logger
}

// Bot is the admin room: it answers commands, posts notices and steers the reconciler.
type Bot struct {
	opts    Options
	notices chan Reply
	cycleCh chan cycleReport

	mu        sync.Mutex
	cycles    Cycles
	refused   map[id.UserID]time.Time
	leader    bool
	stats     *reconcile.CycleStats
	failing   map[string]string // what is failing → the message posted when it started
	noAccount map[id.UserID]bool
}

type cycleReport struct {
	res   reconcile.CycleResult
	stats reconcile.CycleStats
}

var (
	_ reconcile.Steering = (*Bot)(nil)
	_ reconcile.Observer = (*Bot)(nil)
)

// New builds the admin room; Run posts its notices, HandleEvent answers commands.
func New(opts Options) *Bot {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	opts.Log = opts.Log.With().Str("component", "admin-room").Logger()
	return &Bot{opts: opts, notices: make(chan Reply, noticeQueue), cycleCh: make(chan cycleReport, 8),
		refused: map[id.UserID]time.Time{}, leader: true, failing: map[string]string{}, noAccount: map[id.UserID]bool{}}
}

// SetCycles attaches the reconciler, which is built after the admin room because it steers by it.
func (b *Bot) SetCycles(c Cycles) {
	b.mu.Lock()
	b.cycles = c
	b.mu.Unlock()
}

func (b *Bot) reconciler() Cycles {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cycles
}

// Join joins the admin room, which works when the bot is already in it or invited.
func (b *Bot) Join(ctx context.Context) error {
	return b.opts.Matrix.JoinRoom(ctx, b.opts.Room)
}

// Run posts queued notices and records finished cycles until ctx ends.
func (b *Bot) Run(ctx context.Context) error {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case rep := <-b.cycleCh:
			b.afterCycle(ctx, rep)
		case n := <-b.notices:
			if wait := noticeGap - b.opts.Now().Sub(last); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
			last = b.opts.Now()
			if err := b.opts.Matrix.SendNotice(ctx, b.opts.Room, n.Plain, n.HTML); err != nil {
				b.opts.Log.Warn().Err(err).Msg("Could not post a notice in the admin room")
			}
		}
	}
}

// notify queues a notice; when the queue is full the notice is dropped, since the log has it too.
func (b *Bot) notify(r Reply) {
	select {
	case b.notices <- r:
	default:
		b.opts.Log.Warn().Str("notice", r.Plain).Msg("Admin room notice queue full; notice dropped")
	}
}

// HandleEvent answers one event from the homeserver: a command in the admin room, or an invite
// of the bot into it. Everything else is ignored.
func (b *Bot) HandleEvent(ctx context.Context, evt *event.Event) {
	if evt == nil || evt.RoomID != b.opts.Room || evt.Sender == b.opts.Bot {
		return
	}
	if time.UnixMilli(evt.Timestamp).Before(b.opts.Started.Add(-clockSlack)) {
		return
	}
	switch evt.Type {
	case event.StateMember:
		b.handleInvite(ctx, evt)
	case event.EventMessage:
		b.handleMessage(ctx, evt)
	}
}

func (b *Bot) handleInvite(ctx context.Context, evt *event.Event) {
	if evt.GetStateKey() != string(b.opts.Bot) {
		return
	}
	mem, _ := evt.Content.Parsed.(*event.MemberEventContent)
	if mem == nil || mem.Membership != event.MembershipInvite {
		return
	}
	// Before joining, the room's power levels cannot be read: only a listed admin's invite is
	// accepted then. With min_power_level alone, invite the bot before it starts.
	if !slices.Contains(b.opts.Admins, evt.Sender) {
		b.opts.Log.Warn().Str("sender", string(evt.Sender)).Msg("Invite into the admin room from someone not in admins; ignored")
		return
	}
	if err := b.Join(ctx); err != nil {
		b.opts.Log.Warn().Err(err).Msg("Could not join the admin room")
		return
	}
	b.opts.Log.Info().Str("inviter", string(evt.Sender)).Msg("Joined the admin room")
}

func (b *Bot) handleMessage(ctx context.Context, evt *event.Event) {
	msg, _ := evt.Content.Parsed.(*event.MessageEventContent)
	if msg == nil || (msg.MsgType != event.MsgText && msg.MsgType != "") {
		return
	}
	parsed, addressed, perr := ParseCommand(b.opts.Prefix, msg.Body, syntaxes(b.commands()))
	// Only the leader answers, so that several replicas do not all reply.
	if !addressed || !b.isLeader() {
		return
	}
	log := b.opts.Log.With().Str("sender", string(evt.Sender)).Str("event_id", string(evt.ID)).Logger()
	ok, err := b.authorised(ctx, evt.Sender)
	if err != nil {
		log.Warn().Err(err).Msg("Could not check the sender's power level; command refused")
	}
	if !ok {
		b.refuse(ctx, evt.Sender)
		return
	}
	var reply Reply
	if perr != nil {
		reply = plainReply("%s", perr.Error())
	} else {
		log.Info().Str("command", parsed.Name).Strs("args", parsed.Args).Msg("Admin command")
		if args, err := b.resolveAliases(ctx, parsed.Args); err != nil {
			reply = plainReply("%s", err.Error())
		} else {
			reply = b.run(ctx, Request{Sender: evt.Sender, Name: parsed.Name, Args: args})
		}
	}
	if err := b.opts.Matrix.SendNotice(ctx, b.opts.Room, reply.Plain, reply.HTML); err != nil {
		log.Warn().Err(err).Msg("Could not answer in the admin room")
	}
}

// resolveAliases replaces each room alias among args (only room arguments may start with #)
// by the room's ID.
func (b *Bot) resolveAliases(ctx context.Context, args []string) ([]string, error) {
	out := slices.Clone(args)
	for i, a := range out {
		if !strings.HasPrefix(a, "#") {
			continue
		}
		if b.opts.ResolveRoom == nil {
			return nil, fmt.Errorf("room aliases cannot be looked up here; give the room ID (!…) instead of %s", a)
		}
		room, err := b.opts.ResolveRoom(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("could not look up %s: %s", a, errText(err))
		}
		out[i] = string(room)
	}
	return out, nil
}

// roomLabel names a room for a reply: its alias with the ID, or the ID alone.
func (b *Bot) roomLabel(ctx context.Context, room id.RoomID) string {
	if b.opts.RoomName != nil {
		if l := b.opts.RoomName(ctx, room); l != "" {
			return l + " (" + string(room) + ")"
		}
	}
	return string(room)
}

// Authorise decides whether sender may command the bot: a listed admin, or a power level of at
// least minLevel (when minLevel > 0) in the admin room as the homeserver reports it.
func Authorise(sender id.UserID, admins []id.UserID, minLevel int, levels *plan.PowerLevels) bool {
	if slices.Contains(admins, sender) {
		return true
	}
	return minLevel > 0 && levels != nil && levels.Level(sender) >= minLevel
}

func (b *Bot) authorised(ctx context.Context, sender id.UserID) (bool, error) {
	if Authorise(sender, b.opts.Admins, 0, nil) {
		return true, nil
	}
	if b.opts.MinPowerLevel <= 0 {
		return false, nil
	}
	rs, err := b.opts.Matrix.RoomState(ctx, b.opts.Room)
	if err != nil {
		return false, fmt.Errorf("read the admin room's power levels: %w", err)
	}
	return Authorise(sender, b.opts.Admins, b.opts.MinPowerLevel, &rs.PowerLevels), nil
}

// refuse answers a non-admin at most once a minute.
func (b *Bot) refuse(ctx context.Context, sender id.UserID) {
	now := b.opts.Now()
	b.mu.Lock()
	last, seen := b.refused[sender]
	if seen && now.Sub(last) < refusalEvery {
		b.mu.Unlock()
		return
	}
	b.refused[sender] = now
	b.mu.Unlock()
	b.opts.Log.Info().Str("sender", string(sender)).Msg("Command from someone who is not an admin refused")
	r := plainReply("Sorry %s, only the bot's admins may give it commands.", sender)
	if err := b.opts.Matrix.SendNotice(ctx, b.opts.Room, r.Plain, r.HTML); err != nil {
		b.opts.Log.Warn().Err(err).Msg("Could not post a refusal")
	}
}

// audit records an admin's command; a failure to record is logged, not fatal to the command.
func (b *Bot) audit(ctx context.Context, e plan.AuditEntry) {
	if err := b.opts.Store.AppendAudit(ctx, e); err != nil {
		b.opts.Log.Warn().Err(err).Msg("Could not write the audit log")
	}
}

// LeaderChanged tells the admin room that this process became (or stopped being) the leader.
func (b *Bot) LeaderChanged(leader bool) {
	b.mu.Lock()
	changed := b.leader != leader
	b.leader = leader
	b.mu.Unlock()
	if changed && leader {
		var t text
		b.notify(t.head("This instance took over as leader").line("It now runs the sync cycles.").reply())
	}
}

func (b *Bot) isLeader() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.leader
}

// errText keeps error replies to one line.
func errText(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

var errNoCycles = errors.New("the sync has not started yet")
