package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// The reconciler honours stored exemptions even without an admin room.
var _ reconcile.ExemptionStore = (*sqlState)(nil)

const flagPaused = "paused"

const (
	insertAudit     = `INSERT INTO audit_log (at_ms, actor, command, target, room_id, result) VALUES ($1, $2, $3, $4, $5, $6)`
	selectAuditLast = `SELECT command, result FROM audit_log WHERE target = $1 AND room_id = $2 ORDER BY at_ms DESC, id DESC LIMIT 1`
	// The entry at OFFSET n is the newest of those beyond the n to keep: it and everything
	// older goes.
	selectAuditCut    = `SELECT at_ms, id FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT 1 OFFSET $1`
	deleteAuditBefore = `DELETE FROM audit_log WHERE at_ms < $1`
	deleteAuditUpTo   = `DELETE FROM audit_log WHERE at_ms < $1 OR (at_ms = $1 AND id <= $2)`
	selectAudit       = `SELECT at_ms, actor, command, target, room_id, result FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT $1`
	selectAuditOf     = `SELECT at_ms, actor, command, target, room_id, result FROM audit_log WHERE target = $1 ORDER BY at_ms DESC, id DESC LIMIT $2`
	upsertExemption   = `INSERT INTO exemptions (user_id, room_id, until_back, by_user, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, room_id) DO UPDATE SET until_back = excluded.until_back, by_user = excluded.by_user,
    reason = excluded.reason, at_ms = excluded.at_ms`
	deleteExemption  = `DELETE FROM exemptions WHERE user_id = $1 AND room_id = $2`
	deleteExemptions = `DELETE FROM exemptions WHERE user_id = $1`
	selectExemptions = `SELECT user_id, room_id, until_back, by_user, reason, at_ms FROM exemptions ORDER BY user_id, room_id`
	upsertFlag       = `INSERT INTO admin_flags (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`
	selectFlag       = `SELECT value FROM admin_flags WHERE name = $1`
	// A batch held again after it was rejected or carried out is held anew; one still held or
	// confirmed keeps its status, so a confirmation is not lost to the next cycle.
	upsertBatch = `INSERT INTO held_batches (id, status, why, created_at_ms, decided_by, decided_at_ms) VALUES ($1, 'held', $2, $3, '', NULL)
ON CONFLICT (id) DO UPDATE SET status = 'held', why = excluded.why, created_at_ms = excluded.created_at_ms,
    decided_by = '', decided_at_ms = NULL
WHERE held_batches.status IN ('rejected', 'done')`
	deleteHeldRemovals = `DELETE FROM held_removals WHERE batch_id = $1`
	insertHeldRemoval  = `INSERT INTO held_removals (batch_id, room_id, user_id, action, reason) VALUES ($1, $2, $3, $4, $5)`
	selectBatch        = `SELECT id, status, why, created_at_ms, decided_by, decided_at_ms FROM held_batches WHERE id = $1`
	selectBatchIDs     = `SELECT id FROM held_batches WHERE status IN ('held', 'confirmed') ORDER BY created_at_ms DESC, id`
	selectHeldRemovals = `SELECT room_id, user_id, action, reason FROM held_removals WHERE batch_id = $1 ORDER BY room_id, user_id`
	updateBatch        = `UPDATE held_batches SET status = $2, decided_by = $3, decided_at_ms = $4 WHERE id = $1 AND status = $5`
)

// AppendAudit adds entries to the audit log, in one transaction; a zero At means now. A skipped
// action is left out when the newest entry about its room and user is that same skip (same
// command, result skipped): a cycle that skips a user for want of a Matrix account would otherwise
// add the same line every cycle. Once something else happened to that room and user, the skip is
// written again.
func (s *sqlState) AppendAudit(ctx context.Context, entries ...plan.AuditEntry) error {
	what := "append to the audit log"
	if len(entries) == 1 {
		what = fmt.Sprintf("append %q by %s to the audit log", entries[0].Command, entries[0].Actor)
	}
	return s.inTx(ctx, what, func(tx *sql.Tx) error {
		for _, e := range entries {
			if e.At.IsZero() {
				e.At = s.now()
			}
			if e.Result == reconcile.ResultSkipped {
				var command, result string
				err := tx.QueryRowContext(ctx, selectAuditLast, string(e.Target), string(e.Room)).Scan(&command, &result)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if err == nil && command == e.Command && result == e.Result {
					continue
				}
			}
			if _, err := tx.ExecContext(ctx, insertAudit, millis(e.At), e.Actor, e.Command, string(e.Target), string(e.Room), e.Result); err != nil {
				return err
			}
		}
		return nil
	})
}

// PruneAudit deletes the audit entries older than before (none when before is zero) and all but
// the newest keep (none when keep is 0), and reports how many it deleted. Both deletions walk the
// index on (at_ms, id) from the oldest end.
func (s *sqlState) PruneAudit(ctx context.Context, before time.Time, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune the audit log: keep must not be negative, got %d", keep)
	}
	var deleted int64
	err := s.inTx(ctx, "prune the audit log", func(tx *sql.Tx) error {
		if !before.IsZero() {
			res, err := tx.ExecContext(ctx, deleteAuditBefore, before.UnixMilli())
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			deleted += n
		}
		if keep == 0 {
			return nil
		}
		var atMS, id int64
		err := tx.QueryRowContext(ctx, selectAuditCut, keep).Scan(&atMS, &id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, deleteAuditUpTo, atMS, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		deleted += n
		return err
	})
	return int(deleted), err
}

// Audit returns up to limit entries, newest first; a non-empty target keeps only that user's.
func (s *sqlState) Audit(ctx context.Context, target id.UserID, limit int) ([]plan.AuditEntry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("read the audit log: limit must be at least 1, got %d", limit)
	}
	var rows *sql.Rows
	var err error
	if target == "" {
		rows, err = s.db.QueryContext(ctx, selectAudit, limit)
	} else {
		rows, err = s.db.QueryContext(ctx, selectAuditOf, string(target), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read the audit log in %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []plan.AuditEntry
	for rows.Next() {
		var e plan.AuditEntry
		var at sql.NullInt64
		if err := rows.Scan(&at, &e.Actor, &e.Command, &e.Target, &e.Room, &e.Result); err != nil {
			return nil, fmt.Errorf("read the audit log in %s: %w", s.where, err)
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the audit log in %s: %w", s.where, err)
	}
	return out, nil
}

// PutExemption stores (or replaces) an exemption.
func (s *sqlState) PutExemption(ctx context.Context, e plan.Exemption) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	untilBack := 0
	if e.UntilBack {
		untilBack = 1
	}
	return s.inTx(ctx, fmt.Sprintf("exempt %s", e.User), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertExemption, string(e.User), string(e.Room), untilBack, string(e.By), e.Reason, millis(e.At))
		return err
	})
}

// DeleteExemption lifts the exemption of user in room ("" is the every-room one) and reports
// whether there was one.
func (s *sqlState) DeleteExemption(ctx context.Context, room id.RoomID, user id.UserID) (bool, error) {
	var found bool
	err := s.inTx(ctx, fmt.Sprintf("lift the exemption of %s", user), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, deleteExemption, string(user), string(room))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n > 0
		return err
	})
	return found, err
}

// DeleteExemptions lifts every exemption of user and reports how many there were.
func (s *sqlState) DeleteExemptions(ctx context.Context, user id.UserID) (int, error) {
	var n int64
	err := s.inTx(ctx, fmt.Sprintf("lift the exemptions of %s", user), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, deleteExemptions, string(user))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Exemptions lists every exemption.
func (s *sqlState) Exemptions(ctx context.Context) ([]plan.Exemption, error) {
	rows, err := s.db.QueryContext(ctx, selectExemptions)
	if err != nil {
		return nil, fmt.Errorf("read exemptions from %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []plan.Exemption
	for rows.Next() {
		var e plan.Exemption
		var untilBack int
		var at sql.NullInt64
		if err := rows.Scan(&e.User, &e.Room, &untilBack, &e.By, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("read exemptions from %s: %w", s.where, err)
		}
		e.UntilBack, e.At = untilBack != 0, fromMillis(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read exemptions from %s: %w", s.where, err)
	}
	return out, nil
}

// SetPaused stores whether the bot is paused.
func (s *sqlState) SetPaused(ctx context.Context, paused bool) error {
	v := "false"
	if paused {
		v = "true"
	}
	return s.inTx(ctx, "store the paused flag", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertFlag, flagPaused, v)
		return err
	})
}

// Paused reports whether an admin paused the bot.
func (s *sqlState) Paused(ctx context.Context) (bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, selectFlag, flagPaused).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read the paused flag from %s: %w", s.where, err)
	}
	return v == "true", nil
}

// HoldBatch records a held batch. created is true when it is new (or held anew after it was
// rejected or carried out); status is the batch's status afterwards.
func (s *sqlState) HoldBatch(ctx context.Context, b plan.HeldBatch) (created bool, status string, err error) {
	if b.Created.IsZero() {
		b.Created = s.now()
	}
	err = s.inTx(ctx, fmt.Sprintf("hold removal batch %s", b.ID), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, upsertBatch, b.ID, b.Why, millis(b.Created))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n > 0
		if created {
			if _, err := tx.ExecContext(ctx, deleteHeldRemovals, b.ID); err != nil {
				return err
			}
			for _, r := range b.Removals {
				if _, err := tx.ExecContext(ctx, insertHeldRemoval, b.ID, string(r.Room), string(r.User), string(r.Action), r.Reason); err != nil {
					return fmt.Errorf("store held removal of %s from %s: %w", r.User, r.Room, err)
				}
			}
		}
		return tx.QueryRowContext(ctx, `SELECT status FROM held_batches WHERE id = $1`, b.ID).Scan(&status)
	})
	return created, status, err
}

// Batch returns a held batch with its removals, or reconcile.ErrNoBatch.
func (s *sqlState) Batch(ctx context.Context, batchID string) (plan.HeldBatch, error) {
	var b plan.HeldBatch
	var created, decided sql.NullInt64
	var by string
	err := s.db.QueryRowContext(ctx, selectBatch, batchID).Scan(&b.ID, &b.Status, &b.Why, &created, &by, &decided)
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("held batch %q: %w", batchID, reconcile.ErrNoBatch)
	}
	if err != nil {
		return b, fmt.Errorf("read held batch %s from %s: %w", batchID, s.where, err)
	}
	b.Created, b.DecidedAt, b.DecidedBy = fromMillis(created), fromMillis(decided), id.UserID(by)
	rows, err := s.db.QueryContext(ctx, selectHeldRemovals, batchID)
	if err != nil {
		return b, fmt.Errorf("read held batch %s from %s: %w", batchID, s.where, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r plan.HeldRemoval
		if err := rows.Scan(&r.Room, &r.User, &r.Action, &r.Reason); err != nil {
			return b, fmt.Errorf("read held batch %s from %s: %w", batchID, s.where, err)
		}
		b.Removals = append(b.Removals, r)
	}
	return b, rows.Err()
}

// OpenBatches returns the batches still held or confirmed but not yet carried out, newest first.
func (s *sqlState) OpenBatches(ctx context.Context) ([]plan.HeldBatch, error) {
	rows, err := s.db.QueryContext(ctx, selectBatchIDs)
	if err != nil {
		return nil, fmt.Errorf("list held batches in %s: %w", s.where, err)
	}
	var ids []string
	for rows.Next() {
		var batchID string
		if err := rows.Scan(&batchID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list held batches in %s: %w", s.where, err)
		}
		ids = append(ids, batchID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list held batches in %s: %w", s.where, err)
	}
	var out []plan.HeldBatch
	for _, batchID := range ids {
		b, err := s.Batch(ctx, batchID)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// DecideBatch moves a batch from status from to status to (confirmed, rejected or done),
// recording who decided. It fails with reconcile.ErrNoBatch when no batch with that ID is in status from.
func (s *sqlState) DecideBatch(ctx context.Context, batchID, from, to string, by id.UserID) error {
	return s.inTx(ctx, fmt.Sprintf("mark held batch %s %s", batchID, to), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, updateBatch, batchID, to, string(by), millis(s.now()), from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no batch %q is %s: %w", batchID, from, reconcile.ErrNoBatch)
		}
		return nil
	})
}
