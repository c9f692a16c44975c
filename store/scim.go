package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"authentik-matrix-sync/scimstate"
)

var _ scimstate.Store = (*sqlState)(nil)

const (
	selectSCIMMeta = `SELECT version, last_write_at_ms, settled_at_ms FROM scim_meta WHERE id = 1`
	// bumpSCIMVersion moves the version from $4 to $1 and refuses (no row changed) when another
	// write came first. An earlier settled_at_ms is kept.
	bumpSCIMVersion = `INSERT INTO scim_meta (id, version, last_write_at_ms, settled_at_ms) VALUES (1, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_write_at_ms = excluded.last_write_at_ms,
    settled_at_ms = COALESCE(scim_meta.settled_at_ms, excluded.settled_at_ms)
WHERE scim_meta.version = $4`
	selectSCIMUsers = `SELECT id, user_name, external_id, active, resource, created_at_ms, updated_at_ms FROM scim_users`
	upsertSCIMUser  = `INSERT INTO scim_users (id, user_name, external_id, active, resource, created_at_ms, updated_at_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, external_id = excluded.external_id,
    active = excluded.active, resource = excluded.resource, created_at_ms = excluded.created_at_ms,
    updated_at_ms = excluded.updated_at_ms`
	deleteSCIMUser   = `DELETE FROM scim_users WHERE id = $1`
	selectSCIMGroups = `SELECT id, display_name, external_id, created_at_ms, updated_at_ms FROM scim_groups`
	upsertSCIMGroup  = `INSERT INTO scim_groups (id, display_name, external_id, created_at_ms, updated_at_ms)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, external_id = excluded.external_id,
    created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms`
	deleteSCIMGroup      = `DELETE FROM scim_groups WHERE id = $1`
	selectSCIMMembers    = `SELECT group_id, value FROM scim_members ORDER BY group_id, value`
	insertSCIMMember     = `INSERT INTO scim_members (group_id, value) VALUES ($1, $2) ON CONFLICT (group_id, value) DO NOTHING`
	deleteSCIMMember     = `DELETE FROM scim_members WHERE group_id = $1 AND value = $2`
	deleteSCIMReferences = `DELETE FROM scim_members WHERE value = $1`
	deleteSCIMGroupRows  = `DELETE FROM scim_members WHERE group_id = $1 OR value = $1`
)

// SCIMVersion reads the SCIM state's version; 0 when nothing was written yet.
func (s *sqlState) SCIMVersion(ctx context.Context) (int64, error) {
	var v int64
	var last int64
	var settled sql.NullInt64
	err := s.db.QueryRowContext(ctx, selectSCIMMeta).Scan(&v, &last, &settled)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the SCIM state's version from %s: %w", s.where, err)
	}
	return v, nil
}

// SCIMState reads every SCIM user, group and membership in one snapshot.
func (s *sqlState) SCIMState(ctx context.Context) (scimstate.Snapshot, error) {
	snap := scimstate.Snapshot{Users: map[string]scimstate.User{}, Groups: map[string]scimstate.Group{}}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return snap, fmt.Errorf("load the SCIM state from %s: start transaction: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	if err := loadSCIM(ctx, tx, &snap); err != nil {
		return scimstate.Snapshot{}, fmt.Errorf("load the SCIM state from %s: %w", s.where, err)
	}
	return snap, nil
}

func loadSCIM(ctx context.Context, tx *sql.Tx, snap *scimstate.Snapshot) error {
	var last int64
	var settled sql.NullInt64
	switch err := tx.QueryRowContext(ctx, selectSCIMMeta).Scan(&snap.Version, &last, &settled); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("version: %w", err)
	default:
		snap.LastWrite = fromMillis(sql.NullInt64{Int64: last, Valid: true})
		snap.SettledAt = fromMillis(settled)
	}
	rows, err := tx.QueryContext(ctx, selectSCIMUsers)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	for rows.Next() {
		var u scimstate.User
		var active int64
		var resource string
		var created, updated int64
		if err := rows.Scan(&u.ID, &u.UserName, &u.ExternalID, &active, &resource, &created, &updated); err != nil {
			rows.Close()
			return fmt.Errorf("users: %w", err)
		}
		if err := json.Unmarshal([]byte(resource), &u); err != nil {
			rows.Close()
			return fmt.Errorf("user %s: its stored attributes are not JSON: %w", u.ID, err)
		}
		u.Active = active != 0
		u.Created = fromMillis(sql.NullInt64{Int64: created, Valid: true})
		u.Modified = fromMillis(sql.NullInt64{Int64: updated, Valid: true})
		snap.Users[u.ID] = u
	}
	if err := closeRows(rows, "users"); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, selectSCIMGroups)
	if err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	for rows.Next() {
		var g scimstate.Group
		var created, updated int64
		if err := rows.Scan(&g.ID, &g.DisplayName, &g.ExternalID, &created, &updated); err != nil {
			rows.Close()
			return fmt.Errorf("groups: %w", err)
		}
		g.Created = fromMillis(sql.NullInt64{Int64: created, Valid: true})
		g.Modified = fromMillis(sql.NullInt64{Int64: updated, Valid: true})
		snap.Groups[g.ID] = g
	}
	if err := closeRows(rows, "groups"); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, selectSCIMMembers)
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	for rows.Next() {
		var group, value string
		if err := rows.Scan(&group, &value); err != nil {
			rows.Close()
			return fmt.Errorf("members: %w", err)
		}
		if g, ok := snap.Groups[group]; ok {
			g.Members = append(g.Members, value)
			snap.Groups[group] = g
		}
	}
	if err := closeRows(rows, "members"); err != nil {
		return err
	}
	for id, g := range snap.Groups {
		// The databases may sort by their collation; the receiver needs byte order.
		slices.Sort(g.Members)
		snap.Groups[id] = g
	}
	return nil
}

func closeRows(rows *sql.Rows, what string) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ApplySCIM writes one change in one transaction, if the state is still at c.Base.
func (s *sqlState) ApplySCIM(ctx context.Context, c scimstate.Change) error {
	return s.inTx(ctx, "write the SCIM state", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, bumpSCIMVersion, c.Base+1, c.At.UnixMilli(), millis(c.Settled), c.Base)
		if err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("version: %w", err)
		} else if n == 0 {
			return fmt.Errorf("at version %d: %w", c.Base, scimstate.ErrStale)
		}
		if u := c.PutUser; u != nil {
			resource, err := json.Marshal(u)
			if err != nil {
				return fmt.Errorf("user %s: %w", u.ID, err)
			}
			if _, err := tx.ExecContext(ctx, upsertSCIMUser, u.ID, u.UserName, u.ExternalID, flag(u.Active), string(resource),
				u.Created.UnixMilli(), u.Modified.UnixMilli()); err != nil {
				return fmt.Errorf("user %s (%s): %w", u.ID, u.UserName, err)
			}
		}
		if c.DeleteUser != "" {
			if _, err := tx.ExecContext(ctx, deleteSCIMReferences, c.DeleteUser); err != nil {
				return fmt.Errorf("memberships of user %s: %w", c.DeleteUser, err)
			}
			if _, err := tx.ExecContext(ctx, deleteSCIMUser, c.DeleteUser); err != nil {
				return fmt.Errorf("user %s: %w", c.DeleteUser, err)
			}
		}
		if g := c.PutGroup; g != nil {
			if _, err := tx.ExecContext(ctx, upsertSCIMGroup, g.ID, g.DisplayName, g.ExternalID, g.Created.UnixMilli(), g.Modified.UnixMilli()); err != nil {
				return fmt.Errorf("group %s (%s): %w", g.ID, g.DisplayName, err)
			}
		}
		if c.MembersOf != "" {
			if err := changeMembers(ctx, tx, c); err != nil {
				return err
			}
		}
		if c.DeleteGroup != "" {
			if _, err := tx.ExecContext(ctx, deleteSCIMGroupRows, c.DeleteGroup); err != nil {
				return fmt.Errorf("members of group %s: %w", c.DeleteGroup, err)
			}
			if _, err := tx.ExecContext(ctx, deleteSCIMGroup, c.DeleteGroup); err != nil {
				return fmt.Errorf("group %s: %w", c.DeleteGroup, err)
			}
		}
		return nil
	})
}

// changeMembers adds and removes the members of one group, with one prepared statement each, as
// a PATCH may carry a thousand of them.
func changeMembers(ctx context.Context, tx *sql.Tx, c scimstate.Change) error {
	for _, step := range []struct {
		query  string
		values []string
		what   string
	}{{deleteSCIMMember, c.RemoveMembers, "remove"}, {insertSCIMMember, c.AddMembers, "add"}} {
		if len(step.values) == 0 {
			continue
		}
		stmt, err := tx.PrepareContext(ctx, step.query)
		if err != nil {
			return fmt.Errorf("%s members of group %s: %w", step.what, c.MembersOf, err)
		}
		for _, v := range step.values {
			if _, err := stmt.ExecContext(ctx, c.MembersOf, v); err != nil {
				stmt.Close()
				return fmt.Errorf("%s member %s of group %s: %w", step.what, v, c.MembersOf, err)
			}
		}
		if err := stmt.Close(); err != nil {
			return fmt.Errorf("%s members of group %s: %w", step.what, c.MembersOf, err)
		}
	}
	return nil
}
