package e2e

import (
	"database/sql"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The backup subcommand works beside the running bot (SQLite): it copies the database through
// SQLite's own locks while the bot holds DATA_DIR, and the bot goes on with its cycles.
func TestBackupCommandWhileTheBotRuns(t *testing.T) {
	room := newRoom(t, true, "backup-online")
	ak := directory(t, "staff", "alice")
	b := startBot(t, ak, botConfig{appservice: true, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "invite")
	cmd := exec.Command(env.bin, append([]string{"backup"}, b.args...)...)
	cmd.Env = b.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backup beside the running bot: %v\n%s", err, out)
	}
	path := strings.TrimSpace(string(out))
	if filepath.Dir(path) != filepath.Join(b.dataDir, "backups") || !strings.HasPrefix(filepath.Base(path), "authentik-matrix-sync-manual-") {
		t.Fatalf("backup printed %q, want a manual backup in DATA_DIR/backups", out)
	}
	b.waitCycles(2)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("the backup's integrity_check = %q, %v", check, err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM managed_members WHERE user_id = $1", string(uid("alice"))).Scan(&n); err != nil || n != 1 {
		t.Errorf("the backup holds alice %d times (%v), want once: it was taken after her invite", n, err)
	}
}
