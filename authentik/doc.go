// Package authentik reads groups and their members from Authentik's API v3.
//
// It only observes: it never changes anything in Authentik. Every listing is followed page by
// page to the end, and any failure on the way makes the whole answer an error, because a
// partial member list would look like people leaving their groups. The fake server that the
// tests use lives in the authentiktest sub-package.
package authentik
