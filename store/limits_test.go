package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientToolStopsWithContext runs a pg_dump stand-in that hangs, through a shell whose child
// keeps the output pipe open: cancelling the context must end the run within the wait delay.
func TestClientToolStopsWithContext(t *testing.T) {
	if testing.Short() {
		t.Skip("waits up to clientToolWaitDelay")
	}
	dir := t.TempDir()
	hang := filepath.Join(dir, "pg_dump")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nsleep 60\necho done\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := &Postgres{url: "postgres://bot:secret@127.0.0.1:1/db"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.runClientTool(ctx, hang, "back up", "--format=custom")
	took := time.Since(start)
	if err == nil {
		t.Fatal("a hanging pg_dump reported success")
	}
	if took > clientToolWaitDelay+3*time.Second {
		t.Errorf("run returned after %s, want within the wait delay of the cancellation", took)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
