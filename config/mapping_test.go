package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMappingOptionsFromEnvAndFile(t *testing.T) {
	yes, no := true, false
	hours := func(h int) *Duration { d := Duration(time.Duration(h) * time.Hour); return &d }
	tests := []struct {
		name string
		json string // SYNC_MAPPINGS, or "" to use yaml
		yaml string
		want Mapping
	}{
		{
			name: "overrides in SYNC_MAPPINGS",
			json: `[{"group":"g","room":"!r:example.com","remove_action":"BAN","grace_period":"48h","remove":true}]`,
			want: Mapping{Group: "g", Room: "!r:example.com", RemoveAction: "ban", GracePeriod: hours(48), Remove: &yes},
		},
		{
			name: "invite-only space with children in SYNC_MAPPINGS",
			json: `[{"group":"g","space":"!s:example.com","remove":false,"include_children":true,"recursive":true,"exclude_rooms":["!x:example.com"]}]`,
			want: Mapping{Group: "g", Room: "!s:example.com", Remove: &no, IncludeChildren: true, Recursive: true, ExcludeRooms: []string{"!x:example.com"}},
		},
		{
			name: "create_if_missing in the file",
			yaml: "sync:\n  mappings:\n    - group: g\n      room: \"#new:example.com\"\n      grace_period: 90m\n      create_if_missing: {name: New, topic: T, preset: public_chat, parent_space: \"!s:example.com\"}\n",
			want: Mapping{Group: "g", Room: "#new:example.com", GracePeriod: func() *Duration { d := Duration(90 * time.Minute); return &d }(),
				CreateIfMissing: &CreateRoom{Name: "New", Topic: "T", Preset: PresetPublic, ParentSpace: "!s:example.com"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := clientEnv()
			path := ""
			if tc.json != "" {
				env["SYNC_MAPPINGS"] = tc.json
			} else {
				path = writeFile(t, t.TempDir(), "c.yaml", tc.yaml, 0o600)
			}
			c := mustLoad(t, path, env)
			if len(c.Sync.Mappings) != 1 {
				t.Fatalf("got %d mappings", len(c.Sync.Mappings))
			}
			got := c.Sync.Mappings[0]
			if got.Group != tc.want.Group || got.Room != tc.want.Room || got.RemoveAction != tc.want.RemoveAction ||
				got.IncludeChildren != tc.want.IncludeChildren || got.Recursive != tc.want.Recursive ||
				strings.Join(got.ExcludeRooms, ",") != strings.Join(tc.want.ExcludeRooms, ",") ||
				(got.GracePeriod == nil) != (tc.want.GracePeriod == nil) || (got.GracePeriod != nil && *got.GracePeriod != *tc.want.GracePeriod) ||
				(got.Remove == nil) != (tc.want.Remove == nil) || (got.Remove != nil && *got.Remove != *tc.want.Remove) ||
				(got.CreateIfMissing == nil) != (tc.want.CreateIfMissing == nil) || (got.CreateIfMissing != nil && *got.CreateIfMissing != *tc.want.CreateIfMissing) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if tc.json == "" && !strings.Contains(c.Redacted(), "grace_period: 1h30m0s") {
				t.Errorf("Redacted does not show the grace period as text:\n%s", c.Redacted())
			}
		})
	}
}

func TestMappingOptionsRefused(t *testing.T) {
	tests := []struct {
		name, mappings, want string
	}{
		{"unknown remove action", `[{"group":"g","room":"!r:example.com","remove_action":"mute"}]`, `remove_action "mute" is not a remove action`},
		{"grace period as a number", `[{"group":"g","room":"!r:example.com","grace_period":3600}]`, `a duration must be a JSON string`},
		{"grace period not a duration", `[{"group":"g","room":"!r:example.com","grace_period":"two days"}]`, `"two days" is not a duration`},
		{"negative grace period", `[{"group":"g","room":"!r:example.com","grace_period":"-1h"}]`, `grace_period -1h0m0s is negative`},
		{"remove false with a remove action", `[{"group":"g","room":"!r:example.com","remove":false,"remove_action":"ban"}]`, `remove: false`},
		{"recursive alone", `[{"group":"g","room":"!r:example.com","recursive":true}]`, `recursive without include_children`},
		{"exclude alone", `[{"group":"g","room":"!r:example.com","exclude_rooms":["!x:example.com"]}]`, `exclude_rooms without include_children`},
		{"exclude by alias", `[{"group":"g","room":"!r:example.com","include_children":true,"exclude_rooms":["#x:example.com"]}]`, `is not a room ID`},
		{"create for a room ID", `[{"group":"g","room":"!r:example.com","create_if_missing":{}}]`, `is not an alias`},
		{"unknown preset", `[{"group":"g","room":"#r:example.com","create_if_missing":{"preset":"secret"}}]`, `preset "secret" is not a room preset`},
		{"bad parent", `[{"group":"g","room":"#r:example.com","create_if_missing":{"parent_space":"space"}}]`, `parent_space: room "space"`},
		{"typo in a key", `[{"group":"g","room":"!r:example.com","include_childs":true}]`, `include_children, recursive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", envFunc(with(clientEnv(), map[string]string{"SYNC_MAPPINGS": tc.mappings})))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestUnknownMappingKeyListsEveryKey: the SYNC_MAPPINGS answer to an unknown key lists every key
// a mapping takes, power_level included, and suggests the nearest one.
func TestUnknownMappingKeyListsEveryKey(t *testing.T) {
	tests := []struct {
		name, key, want string
	}{
		{"a typo of power_level", "power_levle", `did you mean "power_level"?`},
		{"a typo of method", "metod", `did you mean "method"?`},
		{"nothing near", "colour", `"colour" (known keys: group, room, space, method`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mappings := `[{"group":"g","room":"!r:example.com","` + tc.key + `":1}]`
			_, err := Load("", envFunc(with(clientEnv(), map[string]string{"SYNC_MAPPINGS": mappings})))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, msg)
			}
			for _, key := range []string{"group", "room", "space", "method", "rejoin", "remove_action", "grace_period", "remove",
				"include_children", "recursive", "exclude_rooms", "create_if_missing", "power_level"} {
				if !strings.Contains(msg, key) {
					t.Errorf("known keys lack %s:\n%s", key, msg)
				}
			}
			var keys []string
			for _, f := range reflect.VisibleFields(reflect.TypeFor[Mapping]()) {
				if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
					keys = append(keys, name)
				}
			}
			if !strings.Contains(msg, "known keys: "+strings.Join(keys, ", ")+")") {
				t.Errorf("known keys are not the Mapping's json keys %v:\n%s", keys, msg)
			}
		})
	}
}
