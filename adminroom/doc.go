// Package adminroom holds the admin room: the commands operators send the bot from Matrix, their
// parser and replies, the notices the bot posts there, and the steering (pause, exemptions,
// held removals) the reconciler follows. It also holds the writer of the audit log, which runs
// whether or not an admin room is configured.
package adminroom
