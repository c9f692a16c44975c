// Package store remembers the reconciler's state between cycles and restarts: the members it
// manages, the removals waiting for their grace period, the removals it carried out and the users
// who have no Matrix account yet. The state lives in one SQLite file under DATA_DIR, and Backup
// copies it aside before the reconciler removes anyone.
//
// The schema is a list of numbered SQL files under migrations/, written so that another SQL
// dialect can run the same files; a line ending in "-- only: <dialect>" is kept for that dialect
// alone. A file whose change an older release does not notice says "-- compatible with: N", and
// the schema records that version (schema_compat) beside its own (schema_version), so that a
// release at N or later can still run on it: going back a release does not need a restore.
//
// The migrator is this package's own rather than go.mau.fi/util/dbutil's upgrade tables, which
// keep the same version and compat pair: dbutil runs each step in a transaction of its own and
// takes no lock, where this one runs the whole upgrade in one transaction, on Postgres under an
// advisory lock, so that replicas starting together upgrade once and a failed upgrade leaves the
// database exactly as it was; and dbutil's dialect markers and file headers would mean rewriting
// every migration file for no change in the schema.
package store
