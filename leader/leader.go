// Package leader elects one replica among several that share a PostgreSQL database: the holder of
// a session-level advisory lock, taken on a connection of its own, runs the reconciler; the others
// wait and take over when the lock comes free.
//
// A session lock lives exactly as long as its connection. So the leader pings that connection every
// second, and the moment a ping fails it cancels the reconciler before doing anything else: the
// server may already have ended the session and handed the lock to someone else. Two margins keep
// the old leader's last write ahead of the new leader's first: the lock connection asks the server
// to end the session after idle_session_timeout (5 s) without a ping, which a partitioned leader
// notices within about 2 s; and a replica that wins the lock waits TakeoverDelay (3 s), longer than
// the old leader can take to notice, before it starts.
package leader

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
)

// Defaults; tests may shorten them all in proportion.
const (
	DefaultPoll          = time.Second
	DefaultPing          = time.Second
	DefaultPingTimeout   = time.Second
	DefaultTakeoverDelay = 3 * time.Second
	// DefaultSessionTimeout is the server's idle_session_timeout on the lock connection: a leader
	// cut off from the server loses the lock this long after its last ping.
	DefaultSessionTimeout = 5 * time.Second
)

// ErrHeld is returned by Acquire while another process holds the lock.
var ErrHeld = errors.New("another authentik-matrix-sync instance holds the leader lock")

// Key is the advisory lock key of the replicas sharing schema. Replicas with different schemas in
// one database elect their leaders apart.
func Key(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("authentik-matrix-sync leader " + schema))
	return int64(h.Sum64())
}

// Options configure an Elector.
type Options struct {
	// URL is the postgres:// URL of the database the replicas share.
	URL string
	// Schema is the store's schema; it names the lock.
	Schema string
	// Poll is how often a follower tries the lock; Ping how often the leader checks its
	// connection, PingTimeout how long one check may take; TakeoverDelay how long a new leader
	// waits before it starts; SessionTimeout the server's idle limit on the lock session. Zero
	// means the default. SessionTimeout must exceed Ping+PingTimeout, and TakeoverDelay too.
	Poll, Ping, PingTimeout, TakeoverDelay, SessionTimeout time.Duration
	Log                                                    zerolog.Logger
}

// Elector runs a function only while this process holds the leader lock.
type Elector struct {
	opts    Options
	key     int64
	where   string
	leading atomic.Bool
}

// New checks the options and returns an Elector; nothing connects until Run.
func New(opts Options) (*Elector, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("leader election: the database URL is not a postgres:// URL: set DATABASE_URL")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Poll, DefaultPoll)
	def(&opts.Ping, DefaultPing)
	def(&opts.PingTimeout, DefaultPingTimeout)
	def(&opts.TakeoverDelay, DefaultTakeoverDelay)
	def(&opts.SessionTimeout, DefaultSessionTimeout)
	if detect := opts.Ping + opts.PingTimeout; opts.SessionTimeout <= detect || opts.TakeoverDelay <= detect {
		return nil, fmt.Errorf("leader election: session timeout %v and takeover delay %v must both exceed ping %v + ping timeout %v", opts.SessionTimeout, opts.TakeoverDelay, opts.Ping, opts.PingTimeout)
	}
	return &Elector{opts: opts, key: Key(opts.Schema), where: u.Redacted()}, nil
}

// IsLeader reports whether this process leads right now.
func (e *Elector) IsLeader() bool { return e.leading.Load() }

// Run follows until it wins the lock, then runs lead with a context that is cancelled when
// leadership is lost, and follows again afterwards. It returns nil when ctx ends, or lead's error
// if lead fails while leadership holds.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	log := e.opts.Log
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	reported := false
	for ctx.Err() == nil {
		if conn == nil {
			c, err := e.connect(ctx)
			if err != nil {
				if !reported && ctx.Err() == nil {
					log.Warn().Err(err).Msg("Cannot reach the database for leader election; retrying every poll")
					reported = true
				}
				sleep(ctx, e.opts.Poll)
				continue
			}
			conn, reported = c, false
		}
		got, err := tryLock(ctx, conn, e.key)
		if err != nil {
			conn.Close(context.Background())
			conn = nil
			continue
		}
		if !got {
			sleep(ctx, e.opts.Poll)
			continue
		}
		err = e.leadWhileHeld(ctx, conn, lead)
		// The lock goes with the connection; a fresh one is made for the next round.
		conn.Close(context.Background())
		conn = nil
		if err != nil && !errors.Is(err, errLost) {
			return err
		}
	}
	return nil
}

var errLost = errors.New("leadership lost")

func (e *Elector) leadWhileHeld(ctx context.Context, conn *pgx.Conn, lead func(context.Context) error) error {
	log := e.opts.Log
	log.Info().Float64("takeover_delay_seconds", e.opts.TakeoverDelay.Seconds()).Msg("Won the leader lock; waiting out the takeover delay before starting")
	// During the delay the lock is held but nothing runs; the connection is still watched, so a
	// loss now simply goes back to following.
	wait := time.NewTimer(e.opts.TakeoverDelay)
	defer wait.Stop()
	ticker := time.NewTicker(e.opts.Ping)
	defer ticker.Stop()
waiting:
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wait.C:
			break waiting
		case <-ticker.C:
			if err := e.ping(ctx, conn); err != nil {
				log.Warn().Err(err).Msg("Lost the leader lock before starting")
				return errLost
			}
		}
	}

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	e.leading.Store(true)
	defer e.leading.Store(false)
	log.Info().Msg("Leading: the reconciler runs in this replica")
	go func() { done <- lead(lctx) }()
	for {
		select {
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("the reconciler stopped by itself")
			}
			return err
		case <-ctx.Done():
			<-done
			return nil
		case <-ticker.C:
			if err := e.ping(ctx, conn); err != nil {
				if ctx.Err() != nil {
					cancel()
					<-done
					return nil
				}
				// Stop first, report second: another replica may already hold the lock.
				cancel()
				<-done
				e.leading.Store(false)
				log.Error().Err(err).Msg("Lost the leader lock connection; the reconciler has stopped and this replica follows again")
				return errLost
			}
		}
	}
}

func (e *Elector) ping(ctx context.Context, conn *pgx.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, e.opts.PingTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		return fmt.Errorf("ping the leader lock connection to %s: %w", e.where, err)
	}
	return nil
}

// connect opens the dedicated lock connection and has the server end its session after
// SessionTimeout without a ping.
func (e *Elector) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := dial(ctx, e.opts.URL, e.where)
	if err != nil {
		return nil, err
	}
	ms := e.opts.SessionTimeout.Milliseconds()
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET idle_session_timeout = %d", ms)); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42704" {
			conn.Close(context.Background())
			return nil, fmt.Errorf("set idle_session_timeout on the leader lock connection: %w", err)
		}
		// Before PostgreSQL 14 there is no such setting: a partitioned leader then keeps the
		// lock until TCP keepalives end its session.
		e.opts.Log.Warn().Msg("The server has no idle_session_timeout (PostgreSQL 14 or newer has): a leader cut off from the database may hold the lock until TCP keepalives notice")
	}
	return conn, nil
}

func dial(ctx context.Context, rawURL, where string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("leader election: parse database URL %s: %w", where, err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("leader election: connect to %s: %w", where, err)
	}
	return conn, nil
}

func tryLock(ctx context.Context, conn *pgx.Conn, key int64) (bool, error) {
	var got bool
	err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got)
	return got, err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Lock is the leader lock held outside an election, for maintenance such as a restore: while it is
// held no replica starts a reconciler.
type Lock struct{ conn *pgx.Conn }

// Acquire takes the leader lock of schema once, or returns ErrHeld if a replica holds it.
func Acquire(ctx context.Context, rawURL, schema string) (*Lock, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("leader lock: the database URL does not parse")
	}
	conn, err := dial(ctx, rawURL, u.Redacted())
	if err != nil {
		return nil, err
	}
	got, err := tryLock(ctx, conn, Key(schema))
	if err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("take the leader lock on %s: %w", u.Redacted(), err)
	}
	if !got {
		conn.Close(context.Background())
		return nil, ErrHeld
	}
	return &Lock{conn: conn}, nil
}

// Release gives the lock back.
func (l *Lock) Release() error { return l.conn.Close(context.Background()) }
