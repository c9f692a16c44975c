// Package store remembers the reconciler's state between cycles and restarts: the members it
// manages, the removals waiting for their grace period, the removals it carried out and the users
// who have no Matrix account yet. The state lives in one SQLite file under DATA_DIR, and Backup
// copies it aside before the reconciler removes anyone.
//
// The schema is a list of numbered SQL files under migrations/, written so that another SQL
// dialect can run the same files; a line ending in "-- only: <dialect>" is kept for that dialect
// alone.
package store
