// Package authentiktest is a fake Authentik API v3 for tests and demos.
//
// It serves the same JSON shapes, pagination, filters and error answers as a real Authentik for
// the few endpoints this project reads, keeps its directory in memory, and can be told to fail
// in scripted ways (Fault). Besides the Go methods, it answers a small JSON control API under
// /_fake/ so that another process can change the directory while a test runs. The control API
// checks no token: this is a test tool and must never face a network anyone else can reach.
package authentiktest
