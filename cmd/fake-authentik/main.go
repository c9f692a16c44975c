// Command fake-authentik serves the test fake of Authentik's API v3 on a real port, for the demo
// and for trying the sync by hand. It is a test tool: its /_fake/ control API takes no token, so
// never let it listen where anyone else can reach it.
//
//	fake-authentik -listen 127.0.0.1:9000 -token TOKEN -seed demo-seed.json [-version 2025.10]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/authentik/authentiktest"
)

func main() {
	log := zerolog.New(os.Stderr).With().Timestamp().Str("component", "fake-authentik").Logger()
	if err := run(log, os.Args[1:]); err != nil {
		log.Error().Err(err).Msg("fake-authentik stopped")
		os.Exit(1)
	}
}

func run(log zerolog.Logger, args []string) error {
	fs := flag.NewFlagSet("fake-authentik", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	token := fs.String("token", "", "API token clients must send as 'Authorization: Bearer TOKEN' (required)")
	seedPath := fs.String("seed", "", "JSON file with the users and groups to start with (optional)")
	legacy := fs.Bool("legacy", false, "serve groups in the shape before 2025.8 (parent instead of parents/children); same as -version "+authentiktest.LegacyVersion)
	version := fs.String("version", authentiktest.DefaultVersion, "Authentik release to answer as: its group shape, page sizes and admin/version/ (e.g. 2025.10, 2024.12.3)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("-token is required: pick any string and give the same one to the client")
	}
	release := *version
	if *legacy {
		versionSet := false
		fs.Visit(func(f *flag.Flag) { versionSet = versionSet || f.Name == "version" })
		if versionSet {
			return errors.New("-legacy and -version both pick a release: give only -version")
		}
		release = authentiktest.LegacyVersion
	}
	if err := authentiktest.CheckVersion(release); err != nil {
		return fmt.Errorf("-version: %w", err)
	}

	fake := authentiktest.NewHandler(*token)
	fake.SetVersion(release)
	if *seedPath != "" {
		seed, err := readSeed(*seedPath)
		if err != nil {
			return err
		}
		if err := fake.Load(seed); err != nil {
			return fmt.Errorf("load seed %s: %w", *seedPath, err)
		}
		log.Info().Str("seed", *seedPath).Int("users", len(seed.Users)).Int("groups", len(seed.Groups)).Msg("seed loaded")
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s (pick a free address with -listen): %w", *listen, err)
	}
	srv := &http.Server{Handler: logRequests(log, fake), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info().Str("url", "http://"+ln.Addr().String()).Str("version", fake.Version()).Msg("serving the fake Authentik API under /api/v3/ and its control API under /_fake/")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", *listen, err)
	}
	return nil
}

func readSeed(path string) (authentiktest.Seed, error) {
	var seed authentiktest.Seed
	data, err := os.ReadFile(path)
	if err != nil {
		return seed, fmt.Errorf("read seed: %w", err)
	}
	if err := json.Unmarshal(data, &seed); err != nil {
		return seed, fmt.Errorf("seed %s is not valid JSON of the form {\"users\":[...],\"groups\":[...]}: %w", path, err)
	}
	return seed, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests writes one line per request. Headers are not logged: they carry the token.
func logRequests(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info().Str("method", r.Method).Str("uri", r.URL.RequestURI()).Int("status", rec.status).
			Float64("took_seconds", time.Since(start).Seconds()).Msg("request")
	})
}
