package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
)

const testHSToken = "hs-secret"

// eventSink collects delivered events.
type eventSink struct {
	mu     sync.Mutex
	events []*event.Event
	got    chan struct{}
}

func newSink() *eventSink { return &eventSink{got: make(chan struct{}, 100)} }

func (s *eventSink) handle(_ context.Context, evt *event.Event) {
	s.mu.Lock()
	s.events = append(s.events, evt)
	s.mu.Unlock()
	s.got <- struct{}{}
}

func (s *eventSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, e.ID.String())
	}
	return out
}

func txnBody(ids ...string) string {
	var events []map[string]any
	for _, id := range ids {
		events = append(events, map[string]any{
			"type": "m.room.message", "event_id": id, "room_id": "!r:example.org", "sender": "@u:example.org",
			"origin_server_ts": 1, "content": map[string]any{"msgtype": "m.text", "body": "!sync status"},
		})
	}
	b, _ := json.Marshal(map[string]any{"events": events})
	return string(b)
}

// serve starts a Server on httptest with event delivery running.
func serve(t *testing.T, opts ServerOptions) *httptest.Server {
	t.Helper()
	opts.HSToken = testHSToken
	opts.Log = zerolog.Nop()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunDelivery(ctx); close(done) }()
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return srv
}

func do(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestServerRoutesAndAuth(t *testing.T) {
	srv := serve(t, ServerOptions{})
	txn := "/_matrix/app/v1/transactions/1"
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantCode                        string
	}{
		{"missing token", "PUT", txn, "", txnBody(), 401, "M_MISSING_TOKEN"},
		{"wrong token", "PUT", txn, "nope", txnBody(), 403, "M_FORBIDDEN"},
		{"token of the right length but wrong", "PUT", txn, "hs-secreT", txnBody(), 403, "M_FORBIDDEN"},
		{"right token", "PUT", txn, testHSToken, txnBody("$a"), 200, ""},
		{"legacy query token", "PUT", "/_matrix/app/v1/transactions/2?access_token=" + testHSToken, "", txnBody("$b"), 200, ""},
		{"wrong legacy query token", "PUT", "/_matrix/app/v1/transactions/3?access_token=x", "", txnBody(), 403, "M_FORBIDDEN"},
		{"ping", "POST", "/_matrix/app/v1/ping", testHSToken, `{"transaction_id":"p1"}`, 200, ""},
		{"ping needs the token", "POST", "/_matrix/app/v1/ping", "", `{}`, 401, "M_MISSING_TOKEN"},
		{"user query: never created", "GET", "/_matrix/app/v1/users/@new:example.org", testHSToken, "", 404, "M_NOT_FOUND"},
		{"room query: never created", "GET", "/_matrix/app/v1/rooms/%23new:example.org", testHSToken, "", 404, "M_NOT_FOUND"},
		{"unknown path", "GET", "/_matrix/app/v1/thirdparty/protocol/x", testHSToken, "", 404, "M_UNRECOGNIZED"},
		{"wrong method", "GET", txn, testHSToken, "", 404, "M_UNRECOGNIZED"},
		{"malformed JSON", "PUT", "/_matrix/app/v1/transactions/4", testHSToken, `{"events": [`, 400, "M_NOT_JSON"},
		{"JSON of the wrong shape", "PUT", "/_matrix/app/v1/transactions/5", testHSToken, `{"events": "x"}`, 400, "M_BAD_JSON"},
		{"JSON that is no object", "PUT", "/_matrix/app/v1/transactions/6", testHSToken, `[1,2]`, 400, "M_BAD_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := do(t, tt.method, srv.URL+tt.path, tt.token, tt.body)
			if status != tt.wantStatus || (tt.wantCode != "" && body["errcode"] != tt.wantCode) {
				t.Errorf("%s %s = %d %v; want %d %s", tt.method, tt.path, status, body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == 200 && len(body) != 0 {
				t.Errorf("success body = %v, want {}", body)
			}
		})
	}
}

func TestServerBodyLimit(t *testing.T) {
	srv := serve(t, ServerOptions{MaxBodyBytes: 1024})
	big := `{"events":[],"pad":"` + strings.Repeat("x", 2048) + `"}`
	status, body := do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/big", testHSToken, big)
	if status != 413 || body["errcode"] != "M_TOO_LARGE" {
		t.Errorf("oversized transaction = %d %v; want 413 M_TOO_LARGE", status, body)
	}
	status, _ = do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/small", testHSToken, txnBody("$a"))
	if status != 200 {
		t.Errorf("small transaction = %d, want 200", status)
	}
}

func TestServerDeliversOnceDespiteRetries(t *testing.T) {
	sink := newSink()
	srv := serve(t, ServerOptions{OnEvent: sink.handle})
	for range 3 {
		if status, _ := do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/t1", testHSToken, txnBody("$a", "$b")); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if status, _ := do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/t2", testHSToken, txnBody("$c")); status != 200 {
		t.Fatalf("status %d", status)
	}
	waitFor(t, sink, 3)
	time.Sleep(20 * time.Millisecond) // a duplicate delivery would show up by now
	if got := sink.ids(); strings.Join(got, ",") != "$a,$b,$c" {
		t.Errorf("delivered %v, want $a,$b,$c once each", got)
	}
	sink.mu.Lock()
	first := sink.events[0]
	sink.mu.Unlock()
	if msg, ok := first.Content.Parsed.(*event.MessageEventContent); !ok || msg.Body != "!sync status" {
		t.Errorf("content not parsed: %#v", first.Content.Parsed)
	}
}

func TestServerForgetsOldTransactions(t *testing.T) {
	s, err := NewServer(ServerOptions{HSToken: testHSToken, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rememberedTxns + 1 {
		s.remember(string(rune('a')) + strings.Repeat("x", i))
	}
	if s.wasSeen("a") {
		t.Error("the oldest transaction is still remembered beyond the limit")
	}
	if !s.wasSeen("a" + strings.Repeat("x", rememberedTxns)) {
		t.Error("the newest transaction is forgotten")
	}
	if len(s.seen) != rememberedTxns || len(s.seenRing) != rememberedTxns {
		t.Errorf("remembered %d / %d, want %d", len(s.seen), len(s.seenRing), rememberedTxns)
	}
}

// A handler that blocks must not delay the homeserver: the reply comes at once and events beyond
// the queue are dropped.
func TestServerAcksWhileHandlerIsBusy(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	handled := 0
	srv := serve(t, ServerOptions{QueueSize: 2, OnEvent: func(ctx context.Context, _ *event.Event) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		handled++
		mu.Unlock()
	}})
	start := time.Now()
	for i := range 5 {
		if status, _ := do(t, "PUT", srv.URL+"/_matrix/app/v1/transactions/busy"+string(rune('0'+i)), testHSToken, txnBody("$a", "$b")); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("acknowledging took %v while the handler was blocked", d)
	}
	close(release)
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// One event in the handler plus two queued; the other seven were dropped.
	if handled > 3 {
		t.Errorf("handled %d events, want at most 3 with a queue of 2", handled)
	}
}

func TestListenAndServeStopsWithContext(t *testing.T) {
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
	status, _ := do(t, "POST", "http://"+ln.Addr().String()+"/_matrix/app/v1/ping", testHSToken, "{}")
	if status != 200 {
		t.Errorf("ping = %d", status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if err := s.ListenAndServe(context.Background(), "256.0.0.1:1"); err == nil {
		t.Error("ListenAndServe on an impossible address succeeded")
	}
}

func waitFor(t *testing.T, sink *eventSink, n int) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for range n {
		select {
		case <-sink.got:
		case <-deadline:
			t.Fatalf("delivered %v, want %d events", sink.ids(), n)
		}
	}
}

func TestDecodeTransaction(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantIDs     []string
		wantSkipped int
		wantErr     bool
	}{
		{name: "ordinary", body: txnBody("$a", "$b"), wantIDs: []string{"$a", "$b"}},
		{name: "no events key", body: `{"ephemeral":[]}`},
		{name: "null events", body: `{"events":null}`},
		{name: "unreadable events are skipped", body: `{"events":[1, {"type":"m.room.message","event_id":"$ok","content":{}}, {"content":{}}, {"type":"x","content":"s"}]}`, wantIDs: []string{"$ok"}, wantSkipped: 3},
		{name: "state event", body: `{"events":[{"type":"m.room.member","state_key":"@u:x","event_id":"$m","content":{"membership":"invite"}}]}`, wantIDs: []string{"$m"}},
		{name: "garbage", body: `nope`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, skipped, err := decodeTransaction([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var ids []string
			for _, e := range events {
				ids = append(ids, e.ID.String())
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") || skipped != tt.wantSkipped {
				t.Errorf("ids %v skipped %d; want %v skipped %d", ids, skipped, tt.wantIDs, tt.wantSkipped)
			}
		})
	}
	events, _, _ := decodeTransaction([]byte(`{"events":[{"type":"m.room.member","state_key":"@u:x","content":{"membership":"invite"}}]}`))
	if len(events) != 1 || events[0].Type.Class != event.StateEventType || events[0].Content.AsMember().Membership != event.MembershipInvite {
		t.Errorf("state event decoded as %+v", events)
	}
}

func FuzzTransaction(f *testing.F) {
	f.Add([]byte(txnBody("$a")))
	f.Add([]byte(`{"events":[{"type":"m.room.member","state_key":"@u:x","content":{"membership":"join"}}]}`))
	f.Add([]byte(`{"events":[null,1,"x",{"type":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		events, skipped, err := decodeTransaction(body)
		if err != nil {
			if events != nil || skipped != 0 {
				t.Fatalf("error %v came with events %v / skipped %d", err, events, skipped)
			}
			return
		}
		if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			t.Fatalf("accepted a body that is no JSON object: %q", body)
		}
		var txn struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(body, &txn) != nil {
			t.Fatalf("accepted a transaction whose events are not a list: %q", body)
		}
		if len(events)+skipped != len(txn.Events) {
			t.Fatalf("%d events + %d skipped != %d in the body", len(events), skipped, len(txn.Events))
		}
		for _, e := range events {
			if e == nil || e.Type.Type == "" {
				t.Fatalf("decoded an event without a type: %#v", e)
			}
		}
	})
}

func TestPingOnly(t *testing.T) {
	h, err := PingOnly("hs-secret")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, token string
		want                int
	}{
		{"POST", "/_matrix/app/v1/ping", "hs-secret", http.StatusOK},
		{"POST", "/_matrix/app/v1/ping", "wrong", http.StatusForbidden},
		{"POST", "/_matrix/app/v1/ping", "", http.StatusUnauthorized},
		// Transactions are refused, so the homeserver keeps them for the bot.
		{"PUT", "/_matrix/app/v1/transactions/1", "hs-secret", http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"transaction_id":"t1"}`))
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s %s with %q = %d, want %d", tt.method, tt.path, tt.token, rec.Code, tt.want)
		}
	}
	if _, err := PingOnly(""); err == nil {
		t.Error("PingOnly without an hs_token was accepted")
	}
}
