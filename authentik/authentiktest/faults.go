package authentiktest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault scripts a failure. Faults wait in a queue in the order injected; a request is claimed
// by the first fault whose PathPrefix, QueryContains and Page match it. A fault first lets Skip matching
// requests through untouched, then hits the next Times requests (at least one), then is gone.
//
// What a hit does: wait Delay (if any), then answer Status with Body and Header; with no
// Status the real answer is served (or Body with 200 if Body is set). With Truncate, the
// answer announces its full length but the connection drops halfway through the body.
type Fault struct {
	PathPrefix    string // URL path prefix, e.g. /api/v3/core/users/; "" matches every API request
	QueryContains string // a part the raw query must contain, e.g. groups_by_pk=<uuid>; "" matches any
	Page          int    // the "page" query parameter to match (absent counts as 1); 0 matches any
	Skip          int
	Times         int
	Status        int
	Body          string
	Header        map[string]string // e.g. {"Retry-After": "30"}
	Delay         time.Duration
	Truncate      bool
	Drop          bool // close the connection without an answer (after Delay), as an unreachable server
}

type faultState struct {
	Fault
	skipLeft, hitsLeft int
}

// InjectFault queues a fault.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, skipLeft: f.Skip, hitsLeft: max(f.Times, 1)})
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// claimFault returns the fault that hits this request, if any, and uses it up.
func (s *Server) claimFault(r *http.Request) (Fault, bool) {
	pageNo := 1
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil {
		pageNo = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || !strings.Contains(r.URL.RawQuery, f.QueryContains) ||
			(f.Page != 0 && f.Page != pageNo) {
			continue
		}
		if f.skipLeft > 0 {
			f.skipLeft--
			return Fault{}, false
		}
		f.hitsLeft--
		if f.hitsLeft <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

func (s *Server) serveWithFaults(w http.ResponseWriter, r *http.Request) {
	f, hit := s.claimFault(r)
	if !hit {
		s.serveAPI(w, r)
		return
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	if f.Drop {
		DropConnection(w)
		return
	}

	status, body, header := http.StatusOK, []byte(f.Body), http.Header{}
	switch {
	case f.Status != 0:
		status = f.Status
		if f.Body == "" {
			body = []byte(`{"detail":"injected fault"}`)
		}
		header.Set("Content-Type", "application/json")
	case f.Body != "":
		header.Set("Content-Type", "application/json")
	default:
		rec := httptest.NewRecorder()
		s.serveAPI(rec, r)
		status, body, header = rec.Code, rec.Body.Bytes(), rec.Header()
	}
	for k, v := range f.Header {
		header.Set(k, v)
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	// The declared length stays the full one: a client must notice the missing bytes itself.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if f.Truncate {
		body = body[:len(body)/2]
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
