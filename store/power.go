package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/usermap"
)

var (
	_ reconcile.PowerStore  = (*sqlState)(nil)
	_ usermap.ExternalCache = (*sqlState)(nil)
)

const (
	selectPowerGrants = `SELECT room_id, user_id, level, granted_at_ms, demote_at_ms FROM power_grants`
	upsertPowerGrant  = `INSERT INTO power_grants (room_id, user_id, level, granted_at_ms, demote_at_ms) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (room_id, user_id) DO UPDATE SET
    level = excluded.level, granted_at_ms = excluded.granted_at_ms, demote_at_ms = excluded.demote_at_ms`
	deletePowerGrant  = `DELETE FROM power_grants WHERE room_id = $1 AND user_id = $2`
	selectExternalIDs = `SELECT external_id, user_id, checked_at_ms FROM external_ids WHERE auth_provider = $1`
	upsertExternalID  = `INSERT INTO external_ids (auth_provider, external_id, user_id, checked_at_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (auth_provider, external_id) DO UPDATE SET user_id = excluded.user_id, checked_at_ms = excluded.checked_at_ms`
)

// PowerGrants returns every power level the bot gave.
func (s *sqlState) PowerGrants(ctx context.Context) (map[plan.RoomUser]plan.PowerGrant, error) {
	rows, err := s.db.QueryContext(ctx, selectPowerGrants)
	if err != nil {
		return nil, fmt.Errorf("read power level grants from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[plan.RoomUser]plan.PowerGrant{}
	for rows.Next() {
		var room, user string
		var level int64
		var granted, demote sql.NullInt64
		if err := rows.Scan(&room, &user, &level, &granted, &demote); err != nil {
			return nil, fmt.Errorf("read power level grants from %s: %w", s.where, err)
		}
		g := plan.PowerGrant{Room: id.RoomID(room), User: id.UserID(user), Level: int(level), GrantedAt: fromMillis(granted), DemoteAt: fromMillis(demote)}
		out[plan.RoomUser{Room: g.Room, User: g.User}] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read power level grants from %s: %w", s.where, err)
	}
	return out, nil
}

// PutPowerGrant creates or replaces the grant of one user in one room.
func (s *sqlState) PutPowerGrant(ctx context.Context, g plan.PowerGrant) error {
	granted := millis(g.GrantedAt)
	if !granted.Valid {
		granted = sql.NullInt64{Valid: true}
	}
	return s.inTx(ctx, fmt.Sprintf("store the power level grant of %s in %s", g.User, g.Room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertPowerGrant, string(g.Room), string(g.User), int64(g.Level), granted, millis(g.DemoteAt))
		return err
	})
}

// DeletePowerGrant forgets the grant of one user in one room; a missing grant is not an error.
func (s *sqlState) DeletePowerGrant(ctx context.Context, room id.RoomID, user id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("delete the power level grant of %s in %s", user, room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deletePowerGrant, string(room), string(user))
		return err
	})
}

// ExternalIDs returns the cached lookups of one auth provider, keyed by subject.
func (s *sqlState) ExternalIDs(ctx context.Context, provider string) (map[string]usermap.CachedID, error) {
	rows, err := s.db.QueryContext(ctx, selectExternalIDs, provider)
	if err != nil {
		return nil, fmt.Errorf("read cached external IDs from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[string]usermap.CachedID{}
	for rows.Next() {
		var subject, user string
		var checked int64
		if err := rows.Scan(&subject, &user, &checked); err != nil {
			return nil, fmt.Errorf("read cached external IDs from %s: %w", s.where, err)
		}
		out[subject] = usermap.CachedID{User: id.UserID(user), CheckedAt: time.UnixMilli(checked).UTC()}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cached external IDs from %s: %w", s.where, err)
	}
	return out, nil
}

// PutExternalID caches one lookup; an empty User records that Synapse knew nobody.
func (s *sqlState) PutExternalID(ctx context.Context, provider, subject string, c usermap.CachedID) error {
	return s.inTx(ctx, fmt.Sprintf("cache the external ID %s of %s", subject, provider), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertExternalID, provider, subject, string(c.User), c.CheckedAt.UnixMilli())
		return err
	})
}
