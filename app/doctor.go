package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/httpserver"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/plan"
)

// doctorTimeout bounds a whole doctor run, so that an unreachable server makes a failed line
// instead of a hang.
const doctorTimeout = 2 * time.Minute

// RunDoctor checks the setup and prints one line a check. It writes nothing anywhere: the store
// is not opened, the bot account is not registered, no room is joined. ok is true when every
// check passed; err is for a configuration that cannot even be loaded.
func RunDoctor(ctx context.Context, path string, out io.Writer) (bool, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		r := doctor.Report{Results: []doctor.Result{{Check: "Configuration", Outcome: doctor.Fail, Detail: err.Error(),
			Hint: "fix the configuration file or environment variables named above"}}}
		fmt.Fprintln(out, r.String())
		return false, nil
	}
	log, m := doctorLog(cfg)
	w, err := newWorldWith(cfg, log, m)
	if err != nil {
		r := doctor.Report{Results: []doctor.Result{{Check: "Configuration", Outcome: doctor.Fail, Detail: err.Error(),
			Hint: "fix the setting named above"}}}
		fmt.Fprintln(out, r.String())
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	report := doctor.Run(ctx, w.doctorInput(true))
	fmt.Fprintln(out, report.String())
	return report.OK(), nil
}

// doctorLog is the logger and metrics the doctor's clients get. The log is kept out of the
// doctor's output: every failure is a line of its table, and the clients' warnings about retries
// and failed requests, printed before the table, only hid it. With logging.level debug the log
// goes to standard error as usual, and the metrics' transport (nobody reads the counts) logs
// each request.
func doctorLog(cfg *config.Config) (zerolog.Logger, *metrics.Metrics) {
	if logLevel(cfg) > zerolog.DebugLevel {
		return zerolog.Nop(), nil
	}
	return newLogger(cfg), newMetrics()
}

// doctorReport runs the checks for the admin room's !sync doctor. The bot is running, so its own
// listener answers the appservice ping.
func (w *world) doctorReport(ctx context.Context) doctor.Report {
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	return doctor.Run(ctx, w.doctorInput(false))
}

// doctorInput gathers what the doctor checks. listen lets the appservice check open the
// transactions port for the ping when the bot is not running (the `doctor` subcommand); the
// running bot's `!sync doctor` answers the ping itself.
func (w *world) doctorInput(listen bool) doctor.Input {
	cfg := w.cfg
	in := doctor.Input{
		Authentik:     authentikProbe{w.ak},
		Homeserver:    &homeserverProbe{m: w.matrix, cfg: cfg, needForce: w.needForce(), listen: listen},
		AuthentikURL:  cfg.Authentik.URL,
		HomeserverURL: cfg.Homeserver.Address,
		MAS:           w.masDoctor(),
		DirectorySCIM: cfg.Directory.Source == config.DirectorySourceSCIM,
		Users:         mappedUsers{w},
		ServerName:    cfg.Homeserver.Domain,
	}
	rooms := map[string]int{}
	var overrides [][]plan.MappingOverrides // each room's mappings, as the sync combines them
	for _, m := range cfg.Sync.Mappings {
		if !slices.Contains(in.Groups, m.Group) {
			in.Groups = append(in.Groups, m.Group)
		}
		i, ok := rooms[m.Room]
		if !ok {
			i = len(in.Rooms)
			rooms[m.Room] = i
			in.Rooms = append(in.Rooms, doctor.Need{Room: m.Room})
			overrides = append(overrides, nil)
		}
		n := &in.Rooms[i]
		n.Groups = append(n.Groups, m.Group)
		overrides[i] = append(overrides[i], plan.MappingOverrides{RemoveAction: plan.RemoveAction(m.RemoveAction), NoRemove: !m.Removes()})
		n.PowerLevel = max(n.PowerLevel, m.PowerLevel)
		n.CreatedOnStart = n.CreatedOnStart || m.CreateIfMissing != nil
	}
	for i := range in.Rooms {
		action, removes := plan.RoomRemoval(plan.RemoveAction(cfg.Sync.RemoveAction), overrides[i])
		in.Rooms[i].Kick = removes && action == plan.RemoveKick
		in.Rooms[i].Ban = removes && action == plan.RemoveBan
	}
	return in
}

// mappedUsers gives the doctor the Matrix IDs of the mapped groups' members, mapped as the sync
// maps them, and asks the homeserver about their accounts.
type mappedUsers struct{ w *world }

func (u mappedUsers) MatrixIDs(ctx context.Context, groups []string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, g := range u.w.dir.Members(ctx, groups) {
		if g.Err != nil && len(g.Members) == 0 {
			return nil, g.Err
		}
		for _, m := range g.Members {
			if !seen[string(m.UserID)] {
				seen[string(m.UserID)] = true
				ids = append(ids, string(m.UserID))
			}
		}
	}
	return ids, nil
}

func (u mappedUsers) Exists(ctx context.Context, user string) (bool, error) {
	return u.w.matrix.UserExists(ctx, id.UserID(user))
}

// authentikProbe is the Authentik client as the doctor sees it.
type authentikProbe struct{ c *authentik.Client }

var _ doctor.Authentik = authentikProbe{}

func (p authentikProbe) Version(ctx context.Context) (string, error) { return p.c.Version(ctx) }
func (p authentikProbe) Me(ctx context.Context) (string, error)      { return p.c.Me(ctx) }
func (p authentikProbe) CanListUsers(ctx context.Context) error      { return p.c.CanListUsers(ctx) }
func (p authentikProbe) GroupNames(ctx context.Context) ([]string, error) {
	return p.c.GroupNames(ctx)
}

func (authentikProbe) SplitHint(err error) (string, string) { return authentik.SplitHint(err) }

func (authentikProbe) Explain(err error) doctor.Problem {
	switch {
	case authentik.IsUnreachable(err):
		return doctor.ProblemUnreachable
	case errors.Is(err, authentik.ErrNotAuthentikAPI):
		return doctor.ProblemNotAPI
	case authentik.IsTokenNotReceived(err):
		return doctor.ProblemTokenNotSent
	case errors.Is(err, authentik.ErrTokenRejected):
		return doctor.ProblemToken
	case errors.Is(err, authentik.ErrPermissionDenied):
		return doctor.ProblemPermission
	}
	return doctor.ProblemOther
}

// homeserverProbe is the homeserver as the doctor sees it.
type homeserverProbe struct {
	m         *appservice.Matrix
	cfg       *config.Config
	needForce bool
	listen    bool
}

var _ doctor.Homeserver = (*homeserverProbe)(nil)

func (p *homeserverProbe) Reachable(ctx context.Context) error { return p.m.Reachable(ctx) }

func (p *homeserverProbe) Identity(ctx context.Context) (string, error) {
	bot, err := p.m.Identity(ctx)
	return string(bot), err
}

func (p *homeserverProbe) Appservice(ctx context.Context) (string, bool, error) {
	if !p.m.IsAppservice() {
		return "", false, nil
	}
	as := p.cfg.Appservice
	addr := net.JoinHostPort(as.Hostname, fmt.Sprint(as.Port))
	detail := fmt.Sprintf("the homeserver knows registration %q and reached the running bot's listener", as.ID)
	if p.listen {
		if stop, ok := listenForPing(ctx, addr, as.HSToken); ok {
			defer stop()
			detail = fmt.Sprintf("the homeserver knows registration %q and reached %s with the right hs_token", as.ID, addr)
		}
	}
	if err := p.m.PingAppservice(ctx); err != nil {
		return "", true, err
	}
	return detail, true, nil
}

func (*homeserverProbe) ExplainPing(err error) doctor.PingProblem {
	switch {
	case errors.Is(err, appservice.ErrPingNoURL):
		return doctor.PingNoURL
	case errors.Is(err, appservice.ErrPingUnsupported):
		return doctor.PingUnsupported
	}
	return doctor.PingFailed
}

// listenForPing serves the ping on addr while the doctor pings, when the port is free; a taken
// port means the bot (or something else) listens there and answers for itself.
func listenForPing(ctx context.Context, addr, hsToken string) (stop func(), ok bool) {
	h, err := appservice.PingOnly(hsToken)
	if err != nil {
		return nil, false
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, false
	}
	srv := httpserver.NewServer(addr, h)
	go func() { _ = srv.Serve(ln) }()
	return func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}, true
}

func (p *homeserverProbe) ForceJoin(ctx context.Context) (string, bool, error) {
	if !p.needForce {
		return "", false, nil
	}
	detail, err := p.m.CheckForceJoin(ctx)
	return detail, true, err
}

func (p *homeserverProbe) Room(ctx context.Context, roomOrAlias string) (doctor.RoomPower, error) {
	room, pl, err := p.m.RoomPower(ctx, roomOrAlias)
	if errors.Is(err, appservice.ErrBotNotInRoom) {
		invited, ierr := p.m.BotInvited(ctx, room)
		return doctor.RoomPower{ID: string(room), Invited: invited && ierr == nil}, err
	}
	if err != nil {
		return doctor.RoomPower{}, err
	}
	bot := pl.Level(p.m.BotUserID())
	return doctor.RoomPower{ID: string(room), Bot: bot, Creator: bot == plan.Unlimited, Invite: pl.Invite, Kick: pl.Kick, Ban: pl.Ban,
		PowerLevels: pl.ChangePowerLevels}, nil
}

func (p *homeserverProbe) IsAliasMissing(err error) bool { return appservice.IsAliasNotFound(err) }
