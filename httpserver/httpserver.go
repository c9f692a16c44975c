// Package httpserver builds the program's HTTP listeners with the same bounds everywhere: a slow
// or hostile client can hold a connection or memory only for a limited time and size.
package httpserver

import (
	"net/http"
	"time"
)

// Bounds every listener applies. A header must arrive quickly (slowloris); a whole request, or a
// whole answer, gets a minute, which a homeserver's largest transaction (a few MiB) needs on a
// slow link; idle keep-alive connections are closed after two minutes.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	// MaxHeaderBytes is far above what a homeserver, a Prometheus scraper or a webhook sender
	// sends (a token and a few short headers), and far below Go's default of 1 MiB.
	MaxHeaderBytes = 64 << 10
)

// NewServer returns an http.Server for addr and handler with the bounds above. Callers may set
// BaseContext or shorten a timeout before serving.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}
