// Package scim is a SCIM 2.0 receiver (RFC 7643, RFC 7644) for Authentik's SCIM provider: an
// http.Handler for /scim/v2/Users, /scim/v2/Groups and the discovery endpoints, the users and
// groups it received (kept in a Store so that they survive restarts), and a view of them as
// group memberships for the reconciler (Source, used through usermap), which counts the members
// of subgroups from Authentik's own group tree.
//
// What Authentik sends, taken from its source (authentik/providers/scim/clients/ and tests/,
// releases 2024.x to 2026.x), is noted where the receiver depends on it.
package scim
