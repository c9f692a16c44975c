// Package authentiktest is a fake Authentik API v3 for tests and demos.
//
// It answers the endpoints this project uses (core/groups/ and core/users/ with their filters,
// one group or user, core/users/me/, admin/version/, creating users and groups, add_user and
// remove_user) with the same JSON as a real Authentik: the same keys in the same order, null
// where Authentik writes null, its pagination and autocomplete objects, its headers, and its
// error answers (403 for tokens, JSON 404 for a missing object, the HTML 404 page for an unknown
// path). recorded_test.go holds every answer against ones recorded from a real Authentik
// 2025.12.4 (authentik/testdata/recorded/2025.12.4); SetVersion serves the shapes of older
// releases (a single parent before 2025.12, no children before 2025.8, other page sizes).
//
// The constructor's token is a superuser's; AddUnprivilegedToken adds one that is valid but
// may not read users or groups, and ReplaceToken rotates one. SetCostModel prices every answer
// in the server CPU a real Authentik would spend on it (MeasuredCost: per request, per user row,
// per group member row), added up in ModelledCPU, so that benchmarks can weigh ways of reading. The directory lives in memory, and the fake can be told to fail
// in scripted ways (Fault). Besides the Go methods, it answers a small JSON control API under
// /_fake/ so that another process can change the directory while a test runs. The control API
// checks no token: this is a test tool and must never face a network anyone else can reach.
package authentiktest
