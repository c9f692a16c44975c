package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/leader"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

// stateStore is what the bot and the store subcommands need from either store.
type stateStore interface {
	reconcile.Store
	// Backup takes the automatic backup before removals; BackupAs one of another kind.
	reconcile.Backuper
	BackupAs(ctx context.Context, kind store.BackupKind) (string, error)
	Ping(ctx context.Context) error
	Backups() ([]string, error)
	NewestBackup() (string, time.Time, error)
	LastBackupError() error
	Close() error
}

var (
	_ stateStore = (*store.SQLite)(nil)
	_ stateStore = (*store.Postgres)(nil)
)

// openStore opens the configured store; readOnly is the plan subcommand's mode.
func openStore(ctx context.Context, cfg *config.Config, readOnly bool) (stateStore, error) {
	d := cfg.Database
	if d.Type == config.DatabasePostgres {
		return store.OpenPostgres(ctx, postgresOptions(cfg, readOnly))
	}
	return store.OpenSQLite(ctx, store.Options{DataDir: d.DataDir, BackupRetention: d.BackupRetention, ReadOnly: readOnly})
}

func postgresOptions(cfg *config.Config, readOnly bool) store.PostgresOptions {
	d := cfg.Database
	return store.PostgresOptions{URL: d.URI, Schema: d.Schema, MaxOpenConns: d.MaxOpenConns, MaxIdleConns: d.MaxIdleConns,
		DataDir: d.DataDir, BackupRetention: d.BackupRetention, PgDump: d.PgDump, ReadOnly: readOnly}
}

// runAsLeader runs the reconciler: directly with SQLite, whose DATA_DIR lock already keeps a second
// process out, and only while this replica holds the leader lock with Postgres.
func runAsLeader(ctx context.Context, cfg *config.Config, log zerolog.Logger, setLeader func(bool), run func(context.Context) error) error {
	if cfg.Database.Type != config.DatabasePostgres {
		setLeader(true)
		return run(ctx)
	}
	e, err := leader.New(leader.Options{URL: cfg.Database.URI, Schema: cfg.Database.Schema,
		Log: log.With().Str("component", "leader").Logger()})
	if err != nil {
		return err
	}
	setLeader(false)
	log.Info().Str("schema", cfg.Database.Schema).Msg("Following: the reconciler starts when this replica wins the leader lock")
	return e.Run(ctx, func(ctx context.Context) error {
		setLeader(true)
		defer setLeader(false)
		return run(ctx)
	})
}

// BackupNow takes one manual backup, which no rotation deletes. It works while the bot runs:
// SQLite is copied through its own locks, which work across processes, and pg_dump reads one
// snapshot.
func BackupNow(ctx context.Context, cfg *config.Config) error {
	var path string
	var err error
	if cfg.Database.Type == config.DatabasePostgres {
		var st *store.Postgres
		if st, err = store.OpenPostgres(ctx, postgresOptions(cfg, false)); err != nil {
			return err
		}
		defer st.Close()
		path, err = st.BackupAs(ctx, store.BackupManual)
	} else {
		path, err = store.BackupSQLite(ctx, store.Options{DataDir: cfg.Database.DataDir, BackupRetention: cfg.Database.BackupRetention})
	}
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// Restore replaces the state with a backup. The state it replaces is backed up first, as a
// pre-restore backup; no backup is deleted.
func Restore(ctx context.Context, cfg *config.Config, file string, force bool) error {
	if cfg.Database.Type != config.DatabasePostgres {
		if force {
			fmt.Fprintln(os.Stderr, "note: -force does not apply to SQLite: the file cannot be replaced under a running bot")
		}
		safety, err := store.RestoreSQLite(ctx, store.Options{DataDir: cfg.Database.DataDir, BackupRetention: cfg.Database.BackupRetention}, file)
		if err != nil {
			return err
		}
		fmt.Printf("Restored %s. The state it replaced is in %s.\n", file, safety)
		return nil
	}
	d := cfg.Database
	// Holding the leader lock through the restore keeps every replica from starting a
	// reconciler on half-restored state.
	lock, err := leader.Acquire(ctx, d.URI, d.Schema)
	switch {
	case errors.Is(err, leader.ErrHeld) && !force:
		return fmt.Errorf("refusing to restore: %w (it would go on writing over the restored state); stop every replica first, or pass -force", err)
	case errors.Is(err, leader.ErrHeld):
		fmt.Fprintln(os.Stderr, "warning: restoring although another instance holds the leader lock (-force)")
	case err != nil:
		return err
	default:
		defer lock.Release()
	}
	st, err := store.OpenPostgres(ctx, postgresOptions(cfg, false))
	if err != nil {
		return err
	}
	defer st.Close()
	safety, err := st.Restore(ctx, file)
	if err != nil {
		return err
	}
	fmt.Printf("Restored %s into schema %s. The state it replaced is in %s.\n", file, st.Schema(), safety)
	return nil
}

// MigrateStore copies the state of an SQLite deployment into Postgres.
func MigrateStore(ctx context.Context, cfg *config.Config, from, to string, force bool) error {
	src, ok := strings.CutPrefix(from, "sqlite:")
	if !ok || src == "" {
		return errors.New("migrate-store: -from must be sqlite:PATH, the SQLite file or the DATA_DIR holding it")
	}
	if to == "" {
		to = cfg.Database.URI
	}
	if to == "" {
		return errors.New("migrate-store: -to must be the target postgres:// URL (or set DATABASE_URL)")
	}
	opts := postgresOptions(cfg, false)
	opts.URL = to
	counts, err := store.CopySQLiteToPostgres(ctx, src, opts, force)
	if err != nil {
		return err
	}
	fmt.Printf("Copied %s into schema %s: %s. Counts verified.\n", src, opts.Schema, counts)
	return nil
}
