// Package authentik reads groups and their members from Authentik's API v3.
//
// It only observes: it never changes anything in Authentik. Every listing is followed page by
// page to the end, and any failure on the way makes the whole answer an error, because a
// partial member list would look like people leaving their groups.
//
// Failures that an operator fixes in different places carry a kind, matched with errors.Is:
// ErrTokenRejected (AUTHENTIK_TOKEN, or a proxy dropping it), ErrPermissionDenied (the token's
// user), ErrNotAuthentikAPI (AUTHENTIK_URL) and ErrNotFound (the object is gone); the *APIError
// underneath is there for errors.As.
//
// What the client accepts is held to answers recorded from a real Authentik in
// testdata/recorded/ (see contract_test.go); the fake server that the other tests use lives in
// the authentiktest sub-package.
package authentik
