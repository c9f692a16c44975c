package app

import (
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/config"
)

func TestProtectionFromConfig(t *testing.T) {
	if p := protection(&config.Config{}); p != nil {
		t.Errorf("no protected_users: %+v, want nil", p)
	}
	p := protection(&config.Config{ProtectedUsers: []string{"@root:example.com", `/@ops-.*:example\.com/`, `re:@svc-ci:example\.com`}})
	for u, want := range map[id.UserID]bool{
		"@root:example.com": true, "@ops-anna:example.com": true, "@svc-ci:example.com": true,
		"@ops-anna:example.com.evil": false, "@alice:example.com": false,
	} {
		if got := p.Protects(u); got != want {
			t.Errorf("Protects(%s) = %v, want %v", u, got, want)
		}
	}
}
