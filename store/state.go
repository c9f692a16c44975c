package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unique"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// ErrReadOnly is returned by every write of a store opened read-only.
var ErrReadOnly = errors.New("the state store was opened read-only (plan mode), so nothing is written")

// The statements use $n placeholders and ON CONFLICT upserts, which SQLite and PostgreSQL both
// accept, so another dialect can reuse sqlState as it is.
const (
	selectMembers = `SELECT room_id, user_id, desired_since_ms, added_at_ms FROM managed_members`
	selectPending = `SELECT room_id, user_id, due_at_ms, reason, created_at_ms, awaiting_read FROM pending_removals`
	upsertMember  = `INSERT INTO managed_members (room_id, user_id, desired_since_ms, added_at_ms)
VALUES ($1, $2, $3, $4)
ON CONFLICT (room_id, user_id) DO UPDATE SET
    desired_since_ms = excluded.desired_since_ms, added_at_ms = excluded.added_at_ms`
	deleteMember  = `DELETE FROM managed_members WHERE room_id = $1 AND user_id = $2`
	upsertPending = `INSERT INTO pending_removals (room_id, user_id, due_at_ms, reason, created_at_ms, awaiting_read)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (room_id, user_id) DO UPDATE SET
    due_at_ms = excluded.due_at_ms, reason = excluded.reason, created_at_ms = excluded.created_at_ms,
    awaiting_read = excluded.awaiting_read`
	deletePending = `DELETE FROM pending_removals WHERE room_id = $1 AND user_id = $2`
	insertRemoval = `INSERT INTO removals (room_id, user_id, action, reason, at_ms, replaced_membership, replaced_sender, replaced_since_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	settleRemovals = `UPDATE removals SET replaced_membership = NULL, replaced_sender = NULL, replaced_since_ms = NULL
WHERE room_id = $1 AND user_id = $2 AND at_ms <= $3 AND replaced_since_ms IS NOT NULL`
	// selectRecentRemovals lists the removals since $1 whose replaced membership is known, oldest
	// first, so the newest of a room and user is read last.
	selectRecentRemovals = `SELECT room_id, user_id, action, reason, at_ms, replaced_membership, replaced_sender, replaced_since_ms
FROM removals WHERE at_ms >= $1 AND replaced_since_ms IS NOT NULL ORDER BY at_ms, id`
	selectRemovals = `SELECT room_id, user_id, action, reason, at_ms FROM removals ORDER BY at_ms DESC, id DESC LIMIT $1`
	insertMissing  = `INSERT INTO missing_accounts (user_id, first_seen_ms) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`
	deleteMissing  = `DELETE FROM missing_accounts WHERE user_id = $1`
)

// sqlState implements reconcile.Store on database/sql. The SQL is dialect-neutral; opening the
// database, locking and backups belong to the dialect's own type.
type sqlState struct {
	db *sql.DB
	// where names the database in errors, e.g. its file path.
	where    string
	now      func() time.Time
	readOnly bool
}

// millis turns a time into the stored form: unix milliseconds, NULL for the zero time.
func millis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromMillis is the inverse of millis; times come back in UTC.
func fromMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

func (s *sqlState) writable() error {
	if s.readOnly {
		return ErrReadOnly
	}
	return nil
}

// inTx runs fn in a write transaction; what describes the change for the error.
func (s *sqlState) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	if err := s.writable(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s in %s: start transaction: %w", what, s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s in %s: %w", what, s.where, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s in %s: commit: %w", what, s.where, err)
	}
	return nil
}

// LoadState reads all managed members and pending removals in one consistent snapshot.
func (s *sqlState) LoadState(ctx context.Context) (plan.State, error) {
	st := plan.NewState()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, fmt.Errorf("load state from %s: start transaction: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	members, err := loadMembers(ctx, tx)
	if err != nil {
		return plan.NewState(), fmt.Errorf("load managed members from %s: %w", s.where, err)
	}
	st.Members = members
	if err := loadPending(ctx, tx, st.Pending); err != nil {
		return plan.NewState(), fmt.Errorf("load pending removals from %s: %w", s.where, err)
	}
	if st.Removals, err = loadRecentRemovals(ctx, tx, s.now().Add(-plan.RecentRemovals)); err != nil {
		return plan.NewState(), fmt.Errorf("load recent removals from %s: %w", s.where, err)
	}
	return st, nil
}

// loadRecentRemovals reads the removals since since whose replaced membership is known, the
// newest per room and user (see plan.State.Removals).
func loadRecentRemovals(ctx context.Context, tx *sql.Tx, since time.Time) (map[plan.RoomUser]plan.Removal, error) {
	rows, err := tx.QueryContext(ctx, selectRecentRemovals, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[plan.RoomUser]plan.Removal{}
	for rows.Next() {
		var r plan.Removal
		var action string
		var at, replacedSince sql.NullInt64
		var membership, sender sql.NullString
		if err := rows.Scan(&r.Room, &r.User, &action, &r.Reason, &at, &membership, &sender, &replacedSince); err != nil {
			return nil, err
		}
		r.Action, r.At = plan.RemoveAction(action), fromMillis(at)
		r.Replaced = plan.RoomMember{Membership: membership.String, Sender: id.UserID(sender.String), Since: fromMillis(replacedSince)}
		out[plan.RoomUser{Room: r.Room, User: r.User}] = r
	}
	return out, rows.Err()
}

// nullString stores an empty string as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func loadMembers(ctx context.Context, tx *sql.Tx) (*plan.MemberRecords, error) {
	rows, err := tx.QueryContext(ctx, selectMembers)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var into plan.MemberRecordsBuilder
	for rows.Next() {
		var m plan.ManagedMember
		var desired, added sql.NullInt64
		if err := rows.Scan(&m.Room, &m.User, &desired, &added); err != nil {
			return nil, err
		}
		m.DesiredSince, m.AddedAt = fromMillis(desired), fromMillis(added)
		// Canonical strings: a room ID repeats on every member row, a user on every room of theirs.
		m.Room, m.User = id.RoomID(unique.Make(string(m.Room)).Value()), id.UserID(unique.Make(string(m.User)).Value())
		into.Add(m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return into.Build(), nil
}

func loadPending(ctx context.Context, tx *sql.Tx, into map[plan.RoomUser]plan.PendingRemoval) error {
	rows, err := tx.QueryContext(ctx, selectPending)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p plan.PendingRemoval
		var due, created sql.NullInt64
		var awaiting int64
		if err := rows.Scan(&p.Room, &p.User, &due, &p.Reason, &created, &awaiting); err != nil {
			return err
		}
		p.DueAt, p.CreatedAt, p.AwaitingRead = fromMillis(due), fromMillis(created), awaiting != 0
		into[plan.RoomUser{Room: p.Room, User: p.User}] = p
	}
	return rows.Err()
}

// PutMember inserts or replaces a managed member.
func (s *sqlState) PutMember(ctx context.Context, m plan.ManagedMember) error {
	return s.inTx(ctx, fmt.Sprintf("store managed member %s of %s", m.User, m.Room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertMember, m.Room, m.User, millis(m.DesiredSince), millis(m.AddedAt))
		return err
	})
}

// PutMembers inserts or replaces managed members in one transaction. A first cycle records every
// member of every room: one transaction each took over a minute at 250,000 in Postgres.
func (s *sqlState) PutMembers(ctx context.Context, ms []plan.ManagedMember) error {
	if len(ms) == 0 {
		return nil
	}
	return s.inTx(ctx, fmt.Sprintf("store %d managed members (first %s of %s)", len(ms), ms[0].User, ms[0].Room), func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, upsertMember)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range ms {
			if _, err := stmt.ExecContext(ctx, m.Room, m.User, millis(m.DesiredSince), millis(m.AddedAt)); err != nil {
				return fmt.Errorf("%s of %s: %w", m.User, m.Room, err)
			}
		}
		return nil
	})
}

// ForgetMember deletes the member and their pending removal together.
func (s *sqlState) ForgetMember(ctx context.Context, room id.RoomID, user id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("forget managed member %s of %s", user, room), func(tx *sql.Tx) error {
		return deleteMemberAndPending(ctx, tx, room, user)
	})
}

func deleteMemberAndPending(ctx context.Context, tx *sql.Tx, room id.RoomID, user id.UserID) error {
	if _, err := tx.ExecContext(ctx, deletePending, room, user); err != nil {
		return fmt.Errorf("delete pending removal: %w", err)
	}
	if _, err := tx.ExecContext(ctx, deleteMember, room, user); err != nil {
		return fmt.Errorf("delete managed member: %w", err)
	}
	return nil
}

// PutPending inserts or replaces a pending removal. The user must be a managed member of the
// room: only managed members are ever removed.
func (s *sqlState) PutPending(ctx context.Context, p plan.PendingRemoval) error {
	what := fmt.Sprintf("schedule removal of %s from %s", p.User, p.Room)
	if p.DueAt.IsZero() || p.CreatedAt.IsZero() {
		return fmt.Errorf("%s: due time (%v) and creation time (%v) must both be set", what, p.DueAt, p.CreatedAt)
	}
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertPending, p.Room, p.User, millis(p.DueAt), p.Reason, millis(p.CreatedAt), flag(p.AwaitingRead))
		return err
	})
}

// DeletePending cancels a pending removal; cancelling one that does not exist is not an error.
func (s *sqlState) DeletePending(ctx context.Context, room id.RoomID, user id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("cancel pending removal of %s from %s", user, room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deletePending, room, user)
		return err
	})
}

// RecordRemoval appends r to the history and forgets the member, in one transaction, so a
// restart can neither repeat the removal nor lose its record.
func (s *sqlState) RecordRemoval(ctx context.Context, r plan.Removal) error {
	what := fmt.Sprintf("record %s of %s from %s", r.Action, r.User, r.Room)
	if r.At.IsZero() {
		return fmt.Errorf("%s: the removal time must be set", what)
	}
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		rp := r.Replaced
		if _, err := tx.ExecContext(ctx, insertRemoval, r.Room, r.User, string(r.Action), r.Reason, millis(r.At),
			nullString(rp.Membership), nullString(string(rp.Sender)), millis(rp.Since)); err != nil {
			return fmt.Errorf("append to removal history: %w", err)
		}
		return deleteMemberAndPending(ctx, tx, r.Room, r.User)
	})
}

// SettleRemovals stops watching the removals of user from room made up to upTo for an undo: their
// replaced membership is dropped, so LoadState no longer returns them (see State.Removals).
func (s *sqlState) SettleRemovals(ctx context.Context, room id.RoomID, user id.UserID, upTo time.Time) error {
	return s.inTx(ctx, fmt.Sprintf("settle the removals of %s from %s", user, room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, settleRemovals, room, user, millis(upTo))
		return err
	})
}

// MarkMissingAccount notes that user has no Matrix account; first is true only when the note is
// new.
func (s *sqlState) MarkMissingAccount(ctx context.Context, user id.UserID) (bool, error) {
	var first bool
	err := s.inTx(ctx, fmt.Sprintf("note that %s has no Matrix account", user), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insertMissing, user, millis(s.now()))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	return first, err
}

// ClearMissingAccount forgets the note, so a later loss of the account is reported again.
func (s *sqlState) ClearMissingAccount(ctx context.Context, user id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("clear the missing-account note of %s", user), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deleteMissing, user)
		return err
	})
}

// Removals returns up to limit removals from the history, newest first.
func (s *sqlState) Removals(ctx context.Context, limit int) ([]plan.Removal, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list removals: limit must be at least 1, got %d", limit)
	}
	rows, err := s.db.QueryContext(ctx, selectRemovals, limit)
	if err != nil {
		return nil, fmt.Errorf("list removals in %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []plan.Removal
	for rows.Next() {
		var r plan.Removal
		var at sql.NullInt64
		if err := rows.Scan(&r.Room, &r.User, &r.Action, &r.Reason, &at); err != nil {
			return nil, fmt.Errorf("list removals in %s: %w", s.where, err)
		}
		r.At = fromMillis(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list removals in %s: %w", s.where, err)
	}
	return out, nil
}

// Ping checks that the database answers and still holds a schema.
func (s *sqlState) Ping(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, selectSchemaVersion).Scan(&v); err != nil {
		return fmt.Errorf("ping state database %s: %w", s.where, err)
	}
	return nil
}
