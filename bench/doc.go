// Package bench holds the benchmarks that prove the sync scales: requests per no-change cycle
// against fakes of Authentik and the homeserver, and the peak memory of the real binary with its
// state in Postgres. Its report command (bench/report) runs every benchmark of the module and
// writes bench/results.md; `make bench` runs it.
package bench
