package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as text ("48h", "90m") both in the YAML file and in the
// SYNC_MAPPINGS JSON, where encoding/json would otherwise want nanoseconds.
type Duration time.Duration

// UnmarshalYAML reads "48h"-style text. A value of another kind is a *yaml.TypeError worded as
// yaml.v3 words its own, so that loading goes on and the message names the key, as for any other
// value of the wrong type.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into config.Duration", n.Line, n.ShortTag())}}
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		shown := n.Value
		if len(shown) > 10 {
			shown = shown[:7] + "..."
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s `%s` into config.Duration", n.Line, n.ShortTag(), shown)}}
	}
	*d = v
	return nil
}

// UnmarshalJSON reads a JSON string such as "48h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a JSON string such as \"48h\" or \"90m\", not %s", b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the text form, so that Redacted prints what the operator wrote.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration; write one such as 48h, 90m or 0s", quote(s))
	}
	return Duration(v), nil
}

// CreateRoom says how to create a mapping's room when its alias does not exist yet.
type CreateRoom struct {
	// Name is the new room's name; optional.
	Name string `yaml:"name" json:"name"`
	// Topic is the new room's topic; optional.
	Topic string `yaml:"topic" json:"topic"`
	// Preset is private_chat, trusted_private_chat or public_chat.
	Preset string `yaml:"preset" json:"preset"`
	// ParentSpace is a space (ID or alias) that lists the new room as a child; optional.
	ParentSpace string `yaml:"parent_space" json:"parent_space"`
}

// Room presets create_if_missing accepts, as the Matrix spec spells them.
const (
	PresetPrivate        = "private_chat"
	PresetTrustedPrivate = "trusted_private_chat"
	PresetPublic         = "public_chat"
)

// Removes reports whether the mapping may remove people (remove: false makes it invite-only).
func (m Mapping) Removes() bool { return m.Remove == nil || *m.Remove }

// checkMappingOptions validates the per-mapping overrides and the space and room-creation
// options of mapping i.
func checkMappingOptions(ps *problems, i int, m Mapping) {
	at := mappingSetting(i)
	if m.RemoveAction != "" && m.RemoveAction != RemoveKick && m.RemoveAction != RemoveBan {
		ps.add(at, "remove_action %s is not a remove action; use kick or ban, or leave it out to use sync.remove_action", quote(m.RemoveAction))
	}
	if m.GracePeriod != nil && *m.GracePeriod < 0 {
		ps.add(at, "grace_period %s is negative; use 0s to remove at the next cycle, or a waiting time such as 48h", time.Duration(*m.GracePeriod))
	}
	if !m.Removes() && (m.RemoveAction != "" || m.GracePeriod != nil) {
		ps.add(at, "sets remove: false (never remove) together with remove_action or grace_period, which then mean nothing; drop one or the other")
	}
	if m.Recursive && !m.IncludeChildren {
		ps.add(at, "sets recursive without include_children; set include_children: true to sync the space's rooms, or drop recursive")
	}
	if len(m.ExcludeRooms) > 0 && !m.IncludeChildren {
		ps.add(at, "sets exclude_rooms without include_children; exclude_rooms only skips children of a space")
	}
	for _, r := range m.ExcludeRooms {
		if !strings.HasPrefix(strings.TrimSpace(r), "!") {
			ps.add(at, "exclude_rooms entry %s is not a room ID; list child rooms by ID (!abc:example.com), as the space's m.space.child events name them", quote(r))
		} else if msg := roomProblem(strings.TrimSpace(r)); msg != "" {
			ps.add(at, "exclude_rooms: %s", msg)
		}
	}
	if c := m.CreateIfMissing; c != nil {
		if !strings.HasPrefix(m.Room, "#") {
			ps.add(at, "sets create_if_missing, but room %s is not an alias; a room can only be created for an alias (#name:example.com)", quote(m.Room))
		}
		switch c.Preset {
		case "", PresetPrivate, PresetTrustedPrivate, PresetPublic:
		default:
			ps.add(at, "create_if_missing.preset %s is not a room preset; use private_chat, trusted_private_chat or public_chat", quote(c.Preset))
		}
		if c.ParentSpace != "" {
			if msg := roomProblem(c.ParentSpace); msg != "" {
				ps.add(at, "create_if_missing.parent_space: %s", msg)
			}
		}
	}
}
