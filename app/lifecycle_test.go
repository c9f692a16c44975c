package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
)

func TestCheckLifecycleProbesTheAdminAPIOnce(t *testing.T) {
	// A homeserver whose admin API refuses the bot, counting the probes.
	var probes atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_synapse/admin/") {
			probes.Add(1)
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusForbidden)
		_, _ = rw.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"You are not a server admin"}`))
	}))
	defer hs.Close()
	mx, err := appservice.New(appservice.Options{HomeserverURL: hs.URL, BotUserID: "@sync:example.org", AccessToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	lockAfter := config.Duration(0)
	cfg.Deactivated.LockAfter, cfg.Deactivated.Logout = &lockAfter, true
	cfg.ProfileSync.DisplayName = true
	var logs bytes.Buffer
	w := &world{cfg: cfg, matrix: mx, log: zerolog.New(&logs)}

	w.checkLifecycle(context.Background())

	if n := probes.Load(); n != 1 {
		t.Errorf("admin API probed %d times, want once for every purpose", n)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want one warning:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{`"level":"warn"`, `"needed_for":"locking accounts and ending sessions (deactivated.lock_after, deactivated.logout) and profile sync in client mode"`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("warning %s lacks %s", lines[0], want)
		}
	}
}
