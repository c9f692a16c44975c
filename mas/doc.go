// Package mas talks to Matrix Authentication Service (MAS), to which Synapse delegates its
// accounts when it runs with matrix_authentication_service enabled. It holds:
//
//   - TokenSource: OAuth 2.0 client-credentials tokens from MAS's token endpoint, cached and
//     renewed before they expire, one fetch at a time for all callers;
//   - Client: MAS's admin API (/api/admin/v1/): users, locking, upstream OAuth links and the
//     sessions of a user;
//   - Lookup: the Matrix ID linked to an Authentik subject, through MAS's upstream OAuth links
//     (a usermap.ExternalLookup);
//   - Accounts: locking and logging out users (a sync.Accounts).
//
// Secrets (the client secret, issued tokens) never appear in an error. mastest holds a fake MAS
// for tests.
package mas
