package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/authentik/authentiktest"
)

func TestDemoSeed(t *testing.T) {
	seed, err := readSeed("demo-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	fake := authentiktest.NewHandler("t")
	if err := fake.Load(seed); err != nil {
		t.Fatal(err)
	}
	var inactive, withMatrixID, needsEscaping int
	for _, su := range seed.Users {
		u, ok := fake.User(su.Username)
		if !ok {
			t.Fatalf("user %q not loaded", su.Username)
		}
		if !u.IsActive {
			inactive++
		}
		if _, ok := u.Attributes["matrix_id"]; ok {
			withMatrixID++
		}
		if strings.ContainsAny(u.Username, "@ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			needsEscaping++
		}
	}
	staff, _ := fake.Group("staff")
	eng, _ := fake.Group("engineering")
	_, hasAdmins := fake.Group("admins")
	if len(seed.Users) < 6 || inactive != 1 || withMatrixID != 1 || needsEscaping != 1 ||
		!slices.Equal(eng.Parents, []string{staff.PK}) || !hasAdmins {
		t.Fatalf("demo seed lacks a case: %d users, %d inactive, %d with matrix_id, %d needing escaping, engineering %+v, admins %v",
			len(seed.Users), inactive, withMatrixID, needsEscaping, eng, hasAdmins)
	}
}

func TestRunNeedsToken(t *testing.T) {
	err := run(zerolog.Nop(), []string{"-listen", "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "-token is required") {
		t.Fatalf("run without -token: %v", err)
	}
}

func TestLogRequestsWritesOneLineWithoutSecrets(t *testing.T) {
	var buf bytes.Buffer
	h := logRequests(zerolog.New(&buf), authentiktest.NewHandler("secret-token"))
	req := httptest.NewRequest(http.MethodGet, "/api/v3/core/users/?page=1", nil)
	req.Header.Set("Authorization", "Bearer wrong-secret")
	h.ServeHTTP(httptest.NewRecorder(), req)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || strings.Contains(buf.String(), "secret") {
		t.Fatalf("log = %q", buf.String())
	}
	var entry struct {
		Method, URI string
		Status      int
	}
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Method != "GET" || entry.URI != "/api/v3/core/users/?page=1" || entry.Status != 403 {
		t.Fatalf("entry = %+v", entry)
	}
}

func TestRunChecksTheVersion(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-version", "2025.13"}, `-version: authentik version "2025.13"`},
		{[]string{"-version", "latest"}, `-version: authentik version "latest"`},
		{[]string{"-legacy", "-version", "2025.10"}, "give only -version"},
	} {
		err := run(zerolog.Nop(), append([]string{"-listen", "127.0.0.1:0", "-token", "t"}, tt.args...))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run %v: %v, want an error with %q", tt.args, err, tt.wantErr)
		}
	}
}
