// Package appservice is the Matrix side of the sync: it reads room state and changes membership
// through the client-server API (as a plain bot user or as an application service), writes and
// loads the appservice registration file, and serves the small HTTP API a homeserver pushes
// transactions to.
//
// It never creates Matrix accounts for the people it manages: a user without an account is
// reported with ErrNoAccount and left for a later cycle.
//
// It uses mautrix-go's client, event types and room-version rules (creatorsArePrivileged is
// id.RoomVersion.PrivilegedRoomCreators), and keeps its own code where mautrix's would change what
// the bot does:
//
//   - The transaction server (Server) bounds the body it reads, acknowledges a transaction at
//     once and hands its events on through a bounded queue: a namespace over every local user
//     makes the homeserver push nearly all of its traffic here. mautrix's appservice server reads
//     a body of any size and answers only once every event is in its channel, so a slow consumer
//     holds the homeserver's transactions back.
//   - Power levels are written as the raw map read right before (SetUserPowerLevels): every key
//     and user the bot does not change goes back byte for byte, where a typed
//     event.PowerLevelsEventContent round trip drops or rewrites what it does not model.
//   - Joins never go through IntentAPI.EnsureJoined, which registers the user's account when it
//     is missing: the bot must never create accounts for the people it manages.
//   - The registration (Registration) is its own type: Synapse tells a url of null (no pushes)
//     from a missing url key, which mautrix's Registration (url is a string) cannot write; loading
//     checks what Synapse checks; saving replaces the file at once, readable by its owner only.
package appservice
