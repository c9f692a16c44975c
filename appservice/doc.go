// Package appservice is the Matrix side of the sync: it reads room state and changes membership
// through the client-server API (as a plain bot user or as an application service), writes and
// loads the appservice registration file, and serves the small HTTP API a homeserver pushes
// transactions to.
//
// It never creates Matrix accounts for the people it manages: a user without an account is
// reported with ErrNoAccount and left for a later cycle.
package appservice
