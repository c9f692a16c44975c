package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzLoadEnv feeds arbitrary SYNC_MAPPINGS, interval and grace period strings through Load.
// Whatever comes in, Load must not panic, must never echo a secret, and must return either an
// *Error or a configuration that satisfies what the rest of the program relies on.
func FuzzLoadEnv(f *testing.F) {
	f.Add(`[{"group":"Admins","space":"!admins:example.com"}]`, "60", "1440")
	f.Add(`[{"group":"A","room":"#a:example.com","method":"force","rejoin":true}]`, "5", "0")
	f.Add(`[{"group":"A","space":"!a:example.com","room":"!b:example.com"}]`, "-1", "x")
	f.Add(`[{"group":"A"`, "9223372036854775807", "153722867280912931")
	f.Add(`null`, "0x10", " 7 ")
	f.Fuzz(func(t *testing.T, mappings, interval, grace string) {
		env := with(seedEnv(), map[string]string{
			"SYNC_MAPPINGS":                mappings,
			"SYNC_INTERVAL_SECONDS":        interval,
			"CLEANUP_GRACE_PERIOD_MINUTES": grace,
		})
		c, err := Load("", envFunc(env))
		if err != nil {
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Problems) == 0 {
				t.Fatalf("error %v is not an *Error with problems", err)
			}
			assertNoSecrets(t, "error", err.Error())
			return
		}
		if c.Sync.Interval < MinInterval || c.Sync.GracePeriod < 0 {
			t.Fatalf("accepted interval %s, grace %s", c.Sync.Interval, c.Sync.GracePeriod)
		}
		if strings.TrimSpace(interval) != "" && c.Sync.Interval%time.Second != 0 {
			t.Fatalf("interval %s is not whole seconds", c.Sync.Interval)
		}
		for i, m := range c.Sync.Mappings {
			if m.Group == "" || m.Room == "" || m.Space != "" || roomProblem(m.Room) != "" {
				t.Fatalf("accepted mapping #%d %+v", i+1, m)
			}
			if m.Method != "" && m.Method != JoinInvite && m.Method != JoinForce {
				t.Fatalf("accepted method %q", m.Method)
			}
		}
	})
}
