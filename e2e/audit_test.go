package e2e

import (
	"context"
	"testing"
	"time"

	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

// A bot without an admin room keeps the audit log all the same, and a user skipped every cycle
// for want of a Matrix account is one entry, not one per cycle.
func TestAuditLogWithoutAdminRoomRecordsEachSkipOnce(t *testing.T) {
	room := newRoom(t, true, "audit")
	ak := directory(t, "staff", "ghost", "bob")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: time.Hour,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "join")
	b.waitCycles(5)
	b.stop()
	st, err := store.OpenSQLite(context.Background(), store.Options{DataDir: b.dataDir, BackupRetention: 3, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ghost, err := st.Audit(context.Background(), uid("ghost"), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ghost) != 1 || ghost[0].Result != reconcile.ResultSkipped || ghost[0].Room != room {
		t.Errorf("ghost's audit entries after 5+ cycles skipping him: %+v; want one skipped force_join", ghost)
	}
	bob, err := st.Audit(context.Background(), uid("bob"), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(bob) != 1 || bob[0].Result != reconcile.ResultOK || bob[0].Room != room {
		t.Errorf("bob's audit entries: %+v; want his force_join", bob)
	}
}
