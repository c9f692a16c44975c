package appservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestErrorClassifiers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       any
		forbidden  bool
		limited    bool
		wait       time.Duration
		noAccount  bool
		wrapNoAcct bool
	}{
		{name: "forbidden with errcode", status: 403, body: matrixError("M_FORBIDDEN", "You don't have permission to kick"), forbidden: true},
		{name: "403 without errcode", status: 403, body: map[string]any{}, forbidden: true},
		{name: "not found", status: 404, body: matrixError("M_NOT_FOUND", "nope")},
		{name: "rate limited with retry_after_ms", status: 429, body: map[string]any{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}, limited: true, wait: 1500 * time.Millisecond},
		{name: "rate limited with header only", status: 429, header: map[string]string{"Retry-After": "7"}, body: matrixError("M_LIMIT_EXCEEDED", "slow down"), limited: true, wait: 7 * time.Second},
		{name: "body wins over header", status: 429, header: map[string]string{"Retry-After": "7"}, body: map[string]any{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 250}, limited: true, wait: 250 * time.Millisecond},
		{name: "rate limited without hint", status: 429, body: map[string]any{}, limited: true},
		{name: "no account is not forbidden", status: 403, body: matrixError("M_FORBIDDEN", "Application service has not registered this user (@x:example.org)"), wrapNoAcct: true, noAccount: true},
		{name: "server error", status: 500, body: matrixError("M_UNKNOWN", "boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.on("GET /_matrix/client/v3/account/whoami", func(w http.ResponseWriter, _ *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tt.status, tt.body)
			})
			m := newTestMatrix(t, f, false, "")
			_, err := m.client.Whoami(context.Background())
			if err == nil {
				t.Fatal("request succeeded; want an error")
			}
			if tt.wrapNoAcct {
				err = fmt.Errorf("join: %w: %w", ErrNoAccount, err)
			}
			err = fmt.Errorf("outer context: %w", err)
			if got := IsForbidden(err); got != tt.forbidden {
				t.Errorf("IsForbidden = %v, want %v (err: %v)", got, tt.forbidden, err)
			}
			wait, limited := IsRateLimited(err)
			if limited != tt.limited || wait != tt.wait {
				t.Errorf("IsRateLimited = %v, %v; want %v, %v", wait, limited, tt.wait, tt.limited)
			}
			if got := IsNoAccount(err); got != tt.noAccount {
				t.Errorf("IsNoAccount = %v, want %v", got, tt.noAccount)
			}
		})
	}
}

func TestClassifiersOnPlainErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("dial tcp: connection refused"), context.DeadlineExceeded} {
		if IsForbidden(err) || IsNoAccount(err) {
			t.Errorf("%v classified as forbidden or no-account", err)
		}
		if _, ok := IsRateLimited(err); ok {
			t.Errorf("%v classified as rate-limited", err)
		}
	}
}

func TestErrorMatchers(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		msg           string
		notRegistered bool
		masquerade    bool
		alreadyMember bool
	}{
		{"synapse not registered", 403, "Application service has not registered this user (@nobody:example.org)", true, false, false},
		{"outside namespace", 403, "Application service cannot masquerade as this user (@x:other.org).", false, true, false},
		{"already joined", 403, "@u:example.org is already in the room.", false, false, true},
		{"not invited", 403, "You are not invited to this room.", false, false, false},
		{"not registered but 400", 400, "not registered", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply("GET /_matrix/client/v3/account/whoami", tt.status, matrixError("M_FORBIDDEN", tt.msg))
			m := newTestMatrix(t, f, false, "")
			_, err := m.client.Whoami(context.Background())
			if got := isNotRegistered(err); got != tt.notRegistered {
				t.Errorf("isNotRegistered = %v, want %v", got, tt.notRegistered)
			}
			if got := isMasqueradeRefused(err); got != tt.masquerade {
				t.Errorf("isMasqueradeRefused = %v, want %v", got, tt.masquerade)
			}
			if got := isAlreadyMember(err); got != tt.alreadyMember {
				t.Errorf("isAlreadyMember = %v, want %v", got, tt.alreadyMember)
			}
		})
	}
}
