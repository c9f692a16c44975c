package app

import (
	"context"
	"maps"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"
)

// roomNameTTL is how long a room's name is kept before it is asked for again.
const roomNameTTL = 10 * time.Minute

// roomNamer names rooms for replies and CLI output, so that they do not show only 44-character
// room IDs: the alias a mapping was configured with, else the room's canonical alias from the
// homeserver, asked once per roomNameTTL.
type roomNamer struct {
	configured map[id.RoomID]string
	lookup     func(ctx context.Context, room id.RoomID) string
	now        func() time.Time

	mu    sync.Mutex
	known map[id.RoomID]namedAt
}

type namedAt struct {
	name string
	at   time.Time
}

// roomNamer names rooms by the aliases the mappings were configured with, as policy resolved
// them (call it after policy), and asks the homeserver for the others.
func (w *world) roomNamer() *roomNamer {
	return &roomNamer{configured: maps.Clone(w.aliases), lookup: w.matrix.RoomAlias, now: time.Now, known: map[id.RoomID]namedAt{}}
}

// name returns the room's alias, or "" when it has none the bot can read.
func (n *roomNamer) name(ctx context.Context, room id.RoomID) string {
	if alias, ok := n.configured[room]; ok {
		return alias
	}
	n.mu.Lock()
	k, ok := n.known[room]
	n.mu.Unlock()
	if ok && n.now().Sub(k.at) < roomNameTTL {
		return k.name
	}
	name := n.lookup(ctx, room)
	n.mu.Lock()
	n.known[room] = namedAt{name: name, at: n.now()}
	n.mu.Unlock()
	return name
}

// replacer rewrites each of rooms, in text, as "alias (ID)" where the room has an alias.
func (n *roomNamer) replacer(ctx context.Context, rooms []id.RoomID) *strings.Replacer {
	var pairs []string
	seen := map[id.RoomID]bool{}
	for _, r := range rooms {
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		if name := n.name(ctx, r); name != "" {
			pairs = append(pairs, string(r), name+" ("+string(r)+")")
		}
	}
	return strings.NewReplacer(pairs...)
}
