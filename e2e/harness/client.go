package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MatrixError is an error answer from the homeserver. Tests match on ErrCode or Status with
// errors.As.
type MatrixError struct {
	Method  string
	Path    string
	Status  int
	ErrCode string // "M_FORBIDDEN", …; empty when the body was not a Matrix error
	Message string // the "error" field, or the start of a non-JSON body
}

func (e *MatrixError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, e.ErrCode, e.Message)
}

// maxRateLimitRetries bounds waiting on 429s; the harness config lifts Synapse's limits, so a 429
// means a limit it does not know about, and waiting a few times is better than failing a test.
const maxRateLimitRetries = 5

// call sends one JSON request and decodes a JSON answer into out (when out is not nil).
func (s *Synapse) call(ctx context.Context, method, path, token string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		var reader io.Reader
		if payload != nil {
			reader = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, s.URL+path, reader)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.http.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: read answer: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < maxRateLimitRetries {
			if err := sleep(ctx, retryAfter(data)); err != nil {
				return fmt.Errorf("%s %s: waiting out a rate limit: %w", method, path, err)
			}
			continue
		}
		if resp.StatusCode/100 != 2 {
			return matrixError(method, path, resp.StatusCode, data)
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer %.200q: %w", method, path, data, err)
		}
		return nil
	}
}

func matrixError(method, path string, status int, body []byte) *MatrixError {
	e := &MatrixError{Method: method, Path: path, Status: status}
	var parsed struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &parsed) == nil && parsed.ErrCode != "" {
		e.ErrCode, e.Message = parsed.ErrCode, parsed.Error
	} else {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	return e
}

func retryAfter(body []byte) time.Duration {
	var parsed struct {
		RetryAfterMS int64 `json:"retry_after_ms"`
	}
	if json.Unmarshal(body, &parsed) == nil && parsed.RetryAfterMS > 0 {
		return time.Duration(parsed.RetryAfterMS) * time.Millisecond
	}
	return time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiPath joins a fixed prefix with path segments, escaping each one: room IDs, aliases and user
// IDs carry '!', '#', ':' and '@'.
func apiPath(prefix string, segments ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, seg := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	return b.String()
}

// IsErrCode reports whether err is a MatrixError with the given errcode.
func IsErrCode(err error, errCode string) bool {
	var me *MatrixError
	return errors.As(err, &me) && me.ErrCode == errCode
}
