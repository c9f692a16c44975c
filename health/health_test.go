package health

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/reconcile"
)

type fixedCycles struct{ c *reconcile.CycleResult }

func (f fixedCycles) LastCycle() *reconcile.CycleResult { return f.c }

func TestHealthReportsLastCycle(t *testing.T) {
	c := &reconcile.CycleResult{ID: "abcd", Started: time.Unix(100, 0), Duration: time.Second,
		Done: map[string]int{"invite": 2}, Failed: map[string]int{}, Err: errors.New("store down")}
	srv := httptest.NewServer(Handler(time.Unix(50, 0), fixedCycles{c}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || rep.Status != "ok" || rep.LastCycle == nil || rep.LastCycle.Ok ||
		rep.LastCycle.Error != "store down" || rep.LastCycle.Done["invite"] != 2 {
		t.Fatalf("got %d %+v %+v", resp.StatusCode, rep, rep.LastCycle)
	}
}

func TestCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := Check(context.Background(), addr, PathHealth); err == nil {
		t.Fatal("Check passed with nothing listening")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	notReady := ReadyHandler(Condition{Name: "cycle", Run: func(context.Context) error { return errors.New("no finished cycle yet") }},
		Condition{Name: "store", Run: func(context.Context) error { return nil }})
	go func() {
		done <- Serve(ctx, addr, Mux(Endpoints{Health: Handler(time.Now(), fixedCycles{}), Ready: notReady}))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for Check(context.Background(), addr, PathHealth) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Check of /health never passed against a running server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = Check(context.Background(), addr, PathReady)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "cycle: no finished cycle yet") || strings.Contains(err.Error(), "store") {
		t.Errorf("Check of a /ready that fails = %v, want the status and the failing check only", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
