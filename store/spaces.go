package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

var _ reconcile.SpaceStore = (*sqlState)(nil)

const (
	selectSpaceChildren = `SELECT space_id, child_id FROM space_children ORDER BY space_id, child_id`
	deleteSpaceChildren = `DELETE FROM space_children WHERE space_id = $1`
	insertSpaceChild    = `INSERT INTO space_children (space_id, child_id) VALUES ($1, $2) ON CONFLICT (space_id, child_id) DO NOTHING`
	selectRoomRecords   = `SELECT room_id, group_names, remove_action FROM room_records`
	upsertRoomRecord    = `INSERT INTO room_records (room_id, group_names, remove_action, updated_at_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (room_id) DO UPDATE SET
    group_names = excluded.group_names, remove_action = excluded.remove_action, updated_at_ms = excluded.updated_at_ms`
	deleteRoomRecord  = `DELETE FROM room_records WHERE room_id = $1`
	upsertCreatedRoom = `INSERT INTO created_rooms (alias, room_id, parent_space, created_at_ms) VALUES ($1, $2, $3, $4)
ON CONFLICT (alias) DO UPDATE SET room_id = excluded.room_id, parent_space = excluded.parent_space, created_at_ms = excluded.created_at_ms`
	selectCreatedRooms = `SELECT alias, room_id, parent_space, created_at_ms FROM created_rooms ORDER BY created_at_ms, alias`
)

// SpaceChildren returns the stored children of every space.
func (s *sqlState) SpaceChildren(ctx context.Context) (map[id.RoomID][]id.RoomID, error) {
	rows, err := s.db.QueryContext(ctx, selectSpaceChildren)
	if err != nil {
		return nil, fmt.Errorf("read space children from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[id.RoomID][]id.RoomID{}
	for rows.Next() {
		var space, child string
		if err := rows.Scan(&space, &child); err != nil {
			return nil, fmt.Errorf("read space children from %s: %w", s.where, err)
		}
		out[id.RoomID(space)] = append(out[id.RoomID(space)], id.RoomID(child))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read space children from %s: %w", s.where, err)
	}
	return out, nil
}

// PutSpaceChildren replaces the stored children of one space in one transaction.
func (s *sqlState) PutSpaceChildren(ctx context.Context, space id.RoomID, children []id.RoomID) error {
	return s.inTx(ctx, fmt.Sprintf("store the children of space %s", space), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, deleteSpaceChildren, string(space)); err != nil {
			return err
		}
		for _, c := range children {
			if _, err := tx.ExecContext(ctx, insertSpaceChild, string(space), string(c)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RoomRecords returns what is stored of every mapped room.
func (s *sqlState) RoomRecords(ctx context.Context) (map[id.RoomID]plan.RoomRecord, error) {
	rows, err := s.db.QueryContext(ctx, selectRoomRecords)
	if err != nil {
		return nil, fmt.Errorf("read room records from %s: %w", s.where, err)
	}
	defer rows.Close()
	out := map[id.RoomID]plan.RoomRecord{}
	for rows.Next() {
		var room, groups, action string
		if err := rows.Scan(&room, &groups, &action); err != nil {
			return nil, fmt.Errorf("read room records from %s: %w", s.where, err)
		}
		var rec plan.RoomRecord
		if err := json.Unmarshal([]byte(groups), &rec.Groups); err != nil {
			return nil, fmt.Errorf("read room records from %s: groups of %s are not a JSON list (%q): %w", s.where, room, groups, err)
		}
		rec.RemoveAction = plan.RemoveAction(action)
		out[id.RoomID(room)] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read room records from %s: %w", s.where, err)
	}
	return out, nil
}

// PutRoomRecord stores (creates or replaces) the record of one mapped room.
func (s *sqlState) PutRoomRecord(ctx context.Context, room id.RoomID, rec plan.RoomRecord) error {
	groups := rec.Groups
	if groups == nil {
		groups = []string{}
	}
	data, err := json.Marshal(groups)
	if err != nil {
		return fmt.Errorf("store the record of %s: %w", room, err)
	}
	return s.inTx(ctx, fmt.Sprintf("store the record of %s", room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertRoomRecord, string(room), string(data), string(rec.RemoveAction), s.now().UnixMilli())
		return err
	})
}

// DeleteRoomRecord forgets a room that is neither mapped nor holds state any more.
func (s *sqlState) DeleteRoomRecord(ctx context.Context, room id.RoomID) error {
	return s.inTx(ctx, fmt.Sprintf("delete the record of %s", room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deleteRoomRecord, string(room))
		return err
	})
}

// CreatedRoom is a room the bot created for a mapping's create_if_missing.
type CreatedRoom struct {
	Alias id.RoomAlias
	Room  id.RoomID
	// ParentSpace is the space the room was added to; empty if none.
	ParentSpace id.RoomID
	At          time.Time
}

// RecordCreatedRoom remembers a room the bot created.
func (s *sqlState) RecordCreatedRoom(ctx context.Context, c CreatedRoom) error {
	return s.inTx(ctx, fmt.Sprintf("record the creation of %s (%s)", c.Alias, c.Room), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, upsertCreatedRoom, string(c.Alias), string(c.Room), string(c.ParentSpace), c.At.UnixMilli())
		return err
	})
}

// CreatedRooms lists the rooms the bot created, oldest first.
func (s *sqlState) CreatedRooms(ctx context.Context) ([]CreatedRoom, error) {
	rows, err := s.db.QueryContext(ctx, selectCreatedRooms)
	if err != nil {
		return nil, fmt.Errorf("read created rooms from %s: %w", s.where, err)
	}
	defer rows.Close()
	var out []CreatedRoom
	for rows.Next() {
		var alias, room, parent string
		var at int64
		if err := rows.Scan(&alias, &room, &parent, &at); err != nil {
			return nil, fmt.Errorf("read created rooms from %s: %w", s.where, err)
		}
		out = append(out, CreatedRoom{Alias: id.RoomAlias(alias), Room: id.RoomID(room), ParentSpace: id.RoomID(parent), At: time.UnixMilli(at).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read created rooms from %s: %w", s.where, err)
	}
	return out, nil
}
