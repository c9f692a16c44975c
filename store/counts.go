package store

import (
	"context"
	"database/sql"
	"fmt"

	"maunium.net/go/mautrix/id"
)

const (
	countMembers = `SELECT room_id, COUNT(*) FROM managed_members GROUP BY room_id`
	countPending = `SELECT room_id, COUNT(*) FROM pending_removals GROUP BY room_id`
)

// CountState counts managed members and pending removals per room in one snapshot, for the
// figures of a finished cycle, without loading every record as LoadState does.
func (s *sqlState) CountState(ctx context.Context) (members, pending map[id.RoomID]int, err error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("count state in %s: start transaction: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	if members, err = countPerRoom(ctx, tx, countMembers); err != nil {
		return nil, nil, fmt.Errorf("count managed members in %s: %w", s.where, err)
	}
	if pending, err = countPerRoom(ctx, tx, countPending); err != nil {
		return nil, nil, fmt.Errorf("count pending removals in %s: %w", s.where, err)
	}
	return members, pending, nil
}

func countPerRoom(ctx context.Context, tx *sql.Tx, query string) (map[id.RoomID]int, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[id.RoomID]int{}
	for rows.Next() {
		var room id.RoomID
		var n int
		if err := rows.Scan(&room, &n); err != nil {
			return nil, err
		}
		out[room] = n
	}
	return out, rows.Err()
}
