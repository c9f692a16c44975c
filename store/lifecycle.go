package store

import (
	"context"
	"database/sql"
	"fmt"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

var (
	_ reconcile.AccountStore = (*sqlState)(nil)
	_ reconcile.ProfileStore = (*sqlState)(nil)
)

const (
	selectAccountRecords = `SELECT user_id, source_id, username, deactivated_at_ms, deleted, locked_by_bot, locked_at_ms, logged_out_at_ms FROM account_lifecycle`
	upsertAccountRecord  = `INSERT INTO account_lifecycle (user_id, source_id, username, deactivated_at_ms, deleted, locked_by_bot, locked_at_ms, logged_out_at_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (user_id) DO UPDATE SET
    source_id = excluded.source_id, username = excluded.username, deactivated_at_ms = excluded.deactivated_at_ms, deleted = excluded.deleted,
    locked_by_bot = excluded.locked_by_bot, locked_at_ms = excluded.locked_at_ms, logged_out_at_ms = excluded.logged_out_at_ms`
	deleteAccountRecord  = `DELETE FROM account_lifecycle WHERE user_id = $1`
	selectSyncedProfiles = `SELECT user_id, field, value FROM synced_profiles`
	upsertSyncedProfile  = `INSERT INTO synced_profiles (user_id, field, value, synced_at_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value, synced_at_ms = excluded.synced_at_ms`
)

// AccountRecords returns the record of every user the bot saw deactivated.
func (s *sqlState) AccountRecords(ctx context.Context) (map[id.UserID]plan.AccountRecord, error) {
	rows, err := s.db.QueryContext(ctx, selectAccountRecords)
	if err != nil {
		return nil, fmt.Errorf("read account lifecycle records from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[id.UserID]plan.AccountRecord{}
	for rows.Next() {
		var user, sourceID, username string
		var deactivated, deleted, byBot int64
		var locked, loggedOut sql.NullInt64
		if err := rows.Scan(&user, &sourceID, &username, &deactivated, &deleted, &byBot, &locked, &loggedOut); err != nil {
			return nil, fmt.Errorf("read account lifecycle records from %s: %w", s.where, err)
		}
		r := plan.AccountRecord{User: id.UserID(user), SourceID: sourceID, Username: username, DeactivatedAt: fromMillis(sql.NullInt64{Int64: deactivated, Valid: true}),
			Deleted: deleted != 0, LockedByBot: byBot != 0, LockedAt: fromMillis(locked), LoggedOutAt: fromMillis(loggedOut)}
		out[r.User] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read account lifecycle records from %s: %w", s.where, err)
	}
	return out, nil
}

// PutAccountRecord creates or replaces the record of one user.
func (s *sqlState) PutAccountRecord(ctx context.Context, r plan.AccountRecord) error {
	deactivated := millis(r.DeactivatedAt)
	if !deactivated.Valid {
		deactivated = sql.NullInt64{Valid: true}
	}
	return s.inTx(ctx, fmt.Sprintf("store the account lifecycle record of %s", r.User), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertAccountRecord, string(r.User), r.SourceID, r.Username, deactivated, flag(r.Deleted), flag(r.LockedByBot),
			millis(r.LockedAt), millis(r.LoggedOutAt))
		return err
	})
}

// DeleteAccountRecord forgets the record of one user; a missing record is not an error.
func (s *sqlState) DeleteAccountRecord(ctx context.Context, user id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("delete the account lifecycle record of %s", user), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deleteAccountRecord, string(user))
		return err
	})
}

// SyncedProfiles returns the value last synced to each profile field.
func (s *sqlState) SyncedProfiles(ctx context.Context) (map[plan.ProfileKey]string, error) {
	rows, err := s.db.QueryContext(ctx, selectSyncedProfiles)
	if err != nil {
		return nil, fmt.Errorf("read synced profiles from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[plan.ProfileKey]string{}
	for rows.Next() {
		var user, field, value string
		if err := rows.Scan(&user, &field, &value); err != nil {
			return nil, fmt.Errorf("read synced profiles from %s: %w", s.where, err)
		}
		out[plan.ProfileKey{User: id.UserID(user), Field: plan.ProfileField(field)}] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read synced profiles from %s: %w", s.where, err)
	}
	return out, nil
}

// PutSyncedProfile records the value synced to one profile field.
func (s *sqlState) PutSyncedProfile(ctx context.Context, user id.UserID, field plan.ProfileField, value string) error {
	return s.inTx(ctx, fmt.Sprintf("store the synced %s of %s", field, user), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertSyncedProfile, string(user), string(field), value, s.now().UnixMilli())
		return err
	})
}

// flag is a boolean as the INTEGER columns hold it in both dialects.
func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
