package appservice

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestServerTokenPlacement checks where the hs_token may come from: the Authorization header
// wins over the legacy query parameter, so a right token in the query cannot rescue a wrong one
// in the header, and an empty bearer is a missing token, not a match of two empty strings.
func TestServerTokenPlacement(t *testing.T) {
	srv := serve(t, ServerOptions{})
	txn := srv.URL + "/_matrix/app/v1/transactions/"
	tests := []struct {
		name, url, auth string
		want            int
	}{
		{"header right", txn + "h1", "Bearer " + testHSToken, 200},
		{"query right", txn + "q1?access_token=" + testHSToken, "", 200},
		{"header wrong, query right", txn + "hq1?access_token=" + testHSToken, "Bearer wrong", 403},
		{"empty bearer", txn + "e1", "Bearer ", 401},
		{"empty bearer, empty query", txn + "e2?access_token=", "Bearer ", 401},
		{"other scheme falls back to the query", txn + "b1?access_token=" + testHSToken, "Basic Zm9vOmJhcg==", 200},
		{"other scheme, no query", txn + "b2", "Basic " + testHSToken, 401},
		{"token prefix", txn + "p1", "Bearer " + testHSToken[:len(testHSToken)-1], 403},
		{"token with suffix", txn + "s1", "Bearer " + testHSToken + "x", 403},
		{"lower-case scheme", txn + "l1", "bearer " + testHSToken, 401},
		{"token in the body only", txn + "body1", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, tc.url, strings.NewReader(txnBody()))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestServerRefusesBadBodiesAndStaysUp sends oversized (with and without a Content-Length) and
// malformed transactions, then a good one: each bad one gets its 4xx and the good one is served.
func TestServerRefusesBadBodiesAndStaysUp(t *testing.T) {
	sink := newSink()
	srv := serve(t, ServerOptions{MaxBodyBytes: 4096, OnEvent: sink.handle})
	huge := `{"events":[` + strings.Repeat(`{"type":"m.room.message"},`, 1000) + `{}]}`
	tests := []struct {
		name    string
		body    io.Reader
		chunked bool
		want    int
	}{
		{"oversized", strings.NewReader(huge), false, http.StatusRequestEntityTooLarge},
		{"oversized, chunked", io.MultiReader(strings.NewReader(huge)), true, http.StatusRequestEntityTooLarge},
		{"truncated JSON", strings.NewReader(`{"events":[{"type":`), false, http.StatusBadRequest},
		{"not JSON", strings.NewReader("\x00\xff<html>"), false, http.StatusBadRequest},
		{"deeply nested", strings.NewReader(strings.Repeat("[", 2000)), false, http.StatusBadRequest},
		{"events is an object", strings.NewReader(`{"events":{"a":1}}`), false, http.StatusBadRequest},
		{"empty body", strings.NewReader(""), false, http.StatusBadRequest},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/app/v1/transactions/bad"+string(rune('a'+i)), tc.body)
			if tc.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", "Bearer "+testHSToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	if status, _ := do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/good", testHSToken, txnBody("$ok")); status != 200 {
		t.Fatalf("good transaction after bad ones = %d", status)
	}
	waitFor(t, sink, 1)
	if got := sink.ids(); len(got) != 1 || got[0] != "$ok" {
		t.Errorf("delivered %v, want only $ok", got)
	}
}

// TestServerConcurrentReplayDeliversOnce has the homeserver retry one transaction many times at
// once (a timeout on its side while the first attempt is still being read): it is delivered once.
func TestServerConcurrentReplayDeliversOnce(t *testing.T) {
	sink := newSink()
	srv := serve(t, ServerOptions{OnEvent: sink.handle})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/app/v1/transactions/same", strings.NewReader(txnBody("$x", "$y")))
			req.Header.Set("Authorization", "Bearer "+testHSToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("replay answered %d, want 200", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	waitFor(t, sink, 2)
	time.Sleep(50 * time.Millisecond) // a duplicate delivery would show up by now
	if got := sink.ids(); strings.Join(got, ",") != "$x,$y" {
		t.Errorf("delivered %v, want $x,$y once each", got)
	}
}

// TestServerListenerBounds checks that the transactions listener refuses an oversized header,
// which only a listener built with MaxHeaderBytes does below Go's 1 MiB default.
func TestServerListenerBounds(t *testing.T) {
	s, err := NewServer(ServerOptions{HSToken: testHSToken, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/_matrix/app/v1/ping", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testHSToken)
	req.Header.Set("X-Pad", strings.Repeat("a", 256<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("256 KiB header answered %d, want 431", resp.StatusCode)
	}
}
