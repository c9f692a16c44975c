package webhook

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The contract tests replay the calls a real Authentik 2025.12.4 notification transport made
// (testdata/pushed-2025.12.4/README.md says how they were recorded). They outrank what the
// other tests believe Authentik sends.

// pushedDir holds the recorded calls; sharedPushedDir is where they were first put, next to the
// repository.
const (
	pushedDir       = "testdata/pushed-2025.12.4"
	sharedPushedDir = "../../shared/reference/authentik-2025.12.4-pushed"
)

// pushedCall is one recorded call with the answer the bot gave then.
type pushedCall struct {
	file    string
	Version string `json:"authentik_version"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
	Response struct {
		Status int `json:"status"`
	} `json:"response"`
}

func loadPushed(t *testing.T) []pushedCall {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pushedDir, "[0-9][0-9]_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded calls in %s (%v)", pushedDir, err)
	}
	slices.Sort(files)
	var out []pushedCall
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c pushedCall
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Version != "2025.12.4" {
			t.Fatalf("%s was recorded from Authentik %q", f, c.Version)
		}
		c.file = filepath.Base(f)
		out = append(out, c)
	}
	return out
}

// send posts a recorded call with its headers, the secret in place of the redacted one.
func (c pushedCall) send(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.Request.Method, c.Request.Path, bytes.NewReader(c.Request.Body))
	for k, v := range c.Request.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization":
			v = "Bearer " + secret
		case "Content-Length", "Host":
			continue // taken from the body and the target
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAuthentikPushedCalls replays every call a real Authentik 2025.12.4 made through the real
// handler: each is answered 204 and triggers a sync of the group it names — a rename names the
// new name — or of every mapping for a user's event. The user-side change, which Authentik sent
// twice with the same request_id, is harmless: both calls are answered and each asks for the
// same full sync.
func TestAuthentikPushedCalls(t *testing.T) {
	want := map[string]struct {
		change Change
		// trigger is what one call triggers: a group, or "*" for every mapping.
		trigger string
		// sent is how many times Authentik sent the call.
		sent int
	}{
		"01_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelGroup, Name: "staff", Group: "staff"}, "staff", 1},
		"02_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelGroup, Name: "renamed-grp", Group: "renamed-grp"}, "renamed-grp", 1},
		"03_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelGroup, Name: "hook", Group: "hook"}, "hook", 1},
		"04_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelUser, Name: "Judy"}, "*", 2},
		"05_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelGroup, Name: "hook", Group: "hook"}, "hook", 1},
		"06_POST_webhook_204.json": {Change{Action: "model_updated", Model: ModelUser, Name: "Frank"}, "*", 1},
	}
	calls := loadPushed(t)
	if len(calls) != len(want) {
		t.Fatalf("%d recorded calls, %d expectations: every recording needs one", len(calls), len(want))
	}
	for _, c := range calls {
		w, ok := want[c.file]
		if !ok {
			t.Fatalf("%s has no expectation", c.file)
		}
		t.Run(c.file, func(t *testing.T) {
			if got := ParseBody(c.Request.Body); got != w.change {
				t.Errorf("ParseBody = %+v, want %+v", got, w.change)
			}
			// Without a debounce window every call triggers at once: one trigger a call.
			h, _, tr, _ := newTestHandler(Options{Secret: secret, Debounce: -1})
			var wantTriggers []string
			for range w.sent {
				if rec := c.send(h); rec.Code != c.Response.Status || rec.Code != http.StatusNoContent {
					t.Fatalf("answered %d, recorded %d, want 204: %s", rec.Code, c.Response.Status, rec.Body.String())
				}
				wantTriggers = append(wantTriggers, w.trigger)
			}
			if got := tr.all(); !slices.Equal(got, wantTriggers) {
				t.Errorf("triggered %q, want %q", got, wantTriggers)
			}
		})
	}

	// In a debounce window, as configured by default, the repeated call merges with the first:
	// a full sync at once, one when the window ends, and one a window later to read the gathered
	// call again (as for any call gathered in a window); then quiet. A third copy would change
	// nothing of that.
	h, clock, tr, _ := newTestHandler(Options{Secret: secret})
	for _, c := range calls {
		if c.file == "04_POST_webhook_204.json" {
			for range 2 {
				if rec := c.send(h); rec.Code != http.StatusNoContent {
					t.Fatalf("%s answered %d", c.file, rec.Code)
				}
			}
		}
	}
	for range 3 {
		clock.fire()
	}
	if got := tr.all(); !slices.Equal(got, []string{"*", "*", "*"}) || clock.pending() != 0 {
		t.Errorf("the user-side change sent twice triggered %q (%d windows still open), want three full syncs and quiet", got, clock.pending())
	}
}

// TestPushedRecordingsAreTheSharedOriginals checks that the copy in testdata is the recorded
// original, byte for byte, wherever the original is at hand.
func TestPushedRecordingsAreTheSharedOriginals(t *testing.T) {
	if _, err := os.Stat(sharedPushedDir); os.IsNotExist(err) {
		t.Skipf("%s does not exist here", sharedPushedDir)
	}
	originals := map[string]string{"README.md": filepath.Join(sharedPushedDir, "README.md")}
	dir := filepath.Join(sharedPushedDir, "webhook")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		originals[e.Name()] = filepath.Join(dir, e.Name())
	}
	copies, err := os.ReadDir(pushedDir)
	if err != nil {
		t.Fatal(err)
	}
	var copied []string
	for _, e := range copies {
		copied = append(copied, e.Name())
	}
	if want := slices.Sorted(maps.Keys(originals)); !slices.Equal(copied, want) {
		t.Fatalf("%s holds %v, the originals are %v", pushedDir, copied, want)
	}
	for name, original := range originals {
		a, errA := os.ReadFile(filepath.Join(pushedDir, name))
		b, errB := os.ReadFile(original)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the original %s", name, original)
		}
	}
}
