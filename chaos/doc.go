// Package chaos holds the model-based chaos test of the reconciler: for each seed, a random
// schedule of directory changes, Authentik faults, homeserver faults and kills runs in process
// against the real Authentik client, user directory, reconciler and SQLite store, wired as the
// binary wires them, with a fake homeserver that keeps real room state. A reference model of the
// directory's truth checks, after every step, that each kick, ban, lock and logout the bot sent
// was allowed by the safety rule (see docs/development.md, "Chaos test").
package chaos
