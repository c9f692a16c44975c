package app

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/internal/stdiotest"
)

// jsonKeys returns the top-level keys of one JSON log line in order, duplicates kept; ok is
// false when the line is not a JSON object.
func jsonKeys(line string) (keys []string, ok bool) {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		keys = append(keys, tok.(string))
	}
	return keys, true
}

// duplicates returns the keys that occur more than once.
func duplicates(keys []string) []string {
	var dup []string
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] && !slices.Contains(dup, k) {
			dup = append(dup, k)
		}
		seen[k] = true
	}
	return dup
}

func lines(s string) []string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestLoggerFormat: JSON unless logging.format asks for console or, on auto, the output is a
// terminal; colours only on a terminal; the mautrix client's own end-of-request line is dropped.
func TestLoggerFormat(t *testing.T) {
	const ansiEscape = "\x1b["
	tests := []struct {
		format   string
		terminal bool
		wantJSON bool
		colours  bool
	}{
		{format: "auto", wantJSON: true},
		{format: "auto", terminal: true, colours: true},
		{format: "json", terminal: true, wantJSON: true},
		{format: "console"},
		{format: "console", terminal: true, colours: true},
	}
	for _, tc := range tests {
		name := tc.format + " to a file"
		if tc.terminal {
			name = tc.format + " to a terminal"
		}
		t.Run(name, func(t *testing.T) {
			cfg := &config.Config{Logging: config.LoggingConfig{Level: "debug", Format: tc.format}}
			var buf bytes.Buffer
			log := loggerTo(cfg, &buf, tc.terminal)
			log.Warn().Str("room", "!a:example.org").Msg("Something to see")
			log.Debug().Str("url", "http://hs/_matrix/client/versions").Msg("Request completed")
			got := lines(buf.String())
			if len(got) != 1 {
				t.Fatalf("%d lines, want the warning alone:\n%s", len(got), buf.String())
			}
			if _, isJSON := jsonKeys(got[0]); isJSON != tc.wantJSON {
				t.Errorf("JSON %v, want %v: %q", isJSON, tc.wantJSON, got[0])
			}
			if colours := strings.Contains(got[0], ansiEscape); colours != tc.colours {
				t.Errorf("colours %v, want %v: %q", colours, tc.colours, got[0])
			}
		})
	}
}

// TestHomeserverRequestsLoggedOnce: each request to the homeserver makes one debug line, with its
// duration in seconds and each key once, whether it runs in a cycle (the context's logger) or
// outside one (the client's logger, which names the component).
func TestHomeserverRequestsLoggedOnce(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"versions":["v1.11"]}`))
	}))
	defer hs.Close()
	tests := []struct {
		name          string
		inCycle       bool
		wantComponent bool
	}{
		{name: "outside a cycle", wantComponent: true},
		{name: "in a cycle", inCycle: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := masConfig(t, nil, map[string]string{"MATRIX_HOMESERVER_URL": hs.URL, "LOG_LEVEL": "debug", "LOG_FORMAT": "json"})
			var buf bytes.Buffer
			log := loggerTo(cfg, &buf, false)
			w, err := newWorldWith(cfg, log, newMetrics())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tc.inCycle {
				ctx = log.With().Str("cycle", "c0ffee").Logger().WithContext(ctx)
			}
			if err := w.matrix.Reachable(ctx); err != nil {
				t.Fatal(err)
			}
			got := lines(buf.String())
			if len(got) != 1 {
				t.Fatalf("one request made %d lines, want 1:\n%s", len(got), buf.String())
			}
			keys, ok := jsonKeys(got[0])
			if !ok {
				t.Fatalf("not JSON: %q", got[0])
			}
			if dup := duplicates(keys); len(dup) > 0 {
				t.Errorf("keys %v appear more than once: %s", dup, got[0])
			}
			for _, want := range []string{"took_seconds", "endpoint", "code"} {
				if !slices.Contains(keys, want) {
					t.Errorf("no %s: %s", want, got[0])
				}
			}
			if slices.Contains(keys, "component") != tc.wantComponent || slices.Contains(keys, "cycle") != tc.inCycle {
				t.Errorf("component %v and cycle %v wanted: %s", tc.wantComponent, tc.inCycle, got[0])
			}
		})
	}
}

// TestDoctorPrintsOnlyItsTable: with Authentik and the homeserver unreachable, or answering
// errors, the doctor's output is its table; the clients' log lines reach standard error only at
// debug level.
func TestDoctorPrintsOnlyItsTable(t *testing.T) {
	refusing := httptest.NewServer(http.NotFoundHandler())
	refusing.Close() // nothing listens there any more
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/_matrix/client/versions" {
			_, _ = w.Write([]byte(`{"versions":["v1.11"]}`))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}`))
	}))
	defer rejecting.Close()
	tests := []struct {
		name       string
		homeserver string
		level      string
		wantFail   string // a line of the table
		wantLog    bool   // JSON lines on standard error
	}{
		{name: "homeserver unreachable", homeserver: refusing.URL, level: "info", wantFail: "FAIL  Homeserver reachable"},
		{name: "token refused, warn level", homeserver: rejecting.URL, level: "warn", wantFail: "FAIL  Bot identity"},
		{name: "token refused, debug level", homeserver: rejecting.URL, level: "debug", wantFail: "FAIL  Bot identity", wantLog: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			conf := "homeserver: {address: \"" + tc.homeserver + "\"}\n" +
				"matrix: {user_id: \"@bot:example.org\", access_token: syt-token}\n" +
				"authentik: {url: \"" + refusing.URL + "\", token: ak-token}\n" +
				"logging: {level: " + tc.level + ", format: auto}\n" +
				"sync: {mappings: [{group: staff, room: \"!staff:example.org\"}]}\n"
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"LOG_LEVEL", "LOG_FORMAT", "CONFIG_FILE"} {
				t.Setenv(v, "")
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var ok bool
			var err error
			stdout, stderr := stdiotest.Capture(t, func() { ok, err = RunDoctor(ctx, path, os.Stdout) })
			if err != nil || ok {
				t.Fatalf("runDoctor = %v, %v; want a failed check", ok, err)
			}
			if !strings.Contains(stdout, tc.wantFail) {
				t.Errorf("the table lacks %q:\n%s", tc.wantFail, stdout)
			}
			for _, line := range lines(stdout) {
				if strings.HasPrefix(line, "{") {
					t.Errorf("a log line in the doctor's output: %s", line)
				}
			}
			logged := 0
			for _, line := range lines(stderr) {
				keys, isJSON := jsonKeys(line)
				if !isJSON {
					t.Errorf("standard error holds more than log lines: %q", line)
					continue
				}
				logged++
				if dup := duplicates(keys); len(dup) > 0 {
					t.Errorf("keys %v appear more than once: %s", dup, line)
				}
			}
			if (logged > 0) != tc.wantLog {
				t.Errorf("%d log lines on standard error, want some: %v\n%s", logged, tc.wantLog, stderr)
			}
		})
	}
}

// TestLogDurationsNameTheirUnit reads every non-test Go file of the module: zerolog's Dur prints
// a bare number (milliseconds by default), so no log field is written with it; a duration is
// logged as Float64("…_seconds", d.Seconds()), the unit in the key.
func TestLogDurationsNameTheirUnit(t *testing.T) {
	const root = ".."
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		checked++
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			key, _ := strconv.Unquote(lit.Value)
			switch sel.Sel.Name {
			case "Dur":
				t.Errorf("%s: field %q is logged with Dur, a number without its unit; use Float64(%q, d.Seconds())",
					fset.Position(call.Pos()), key, key+"_seconds")
			case "Float64":
				if v, ok := call.Args[1].(*ast.CallExpr); ok {
					if m, ok := v.Fun.(*ast.SelectorExpr); ok && m.Sel.Name == "Seconds" && !strings.HasSuffix(key, "_seconds") {
						t.Errorf("%s: field %q holds seconds; end its name with _seconds", fset.Position(call.Pos()), key)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("read %d Go files under %s; is the walk looking in the right place?", checked, root)
	}
}
