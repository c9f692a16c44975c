package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

// errWouldCreate marks, in plan mode, a mapping whose room the running bot would create: the plan
// leaves it out instead of failing.
var errWouldCreate = errors.New("the room does not exist yet; the running bot creates it (create_if_missing), plan mode creates nothing")

// createdRoomStore records the rooms made for create_if_missing.
type createdRoomStore interface {
	RecordCreatedRoom(ctx context.Context, c store.CreatedRoom) error
	CreatedRooms(ctx context.Context) ([]store.CreatedRoom, error)
}

var (
	_ createdRoomStore     = (*store.SQLite)(nil)
	_ createdRoomStore     = (*store.Postgres)(nil)
	_ reconcile.SpaceStore = (*store.SQLite)(nil)
	_ reconcile.SpaceStore = (*store.Postgres)(nil)
)

// spaceStoreOf returns the store's space records, or nil for a store without them.
func spaceStoreOf(st stateStore) reconcile.SpaceStore {
	ss, _ := st.(reconcile.SpaceStore)
	return ss
}

// creatorOf returns where created rooms are recorded, or nil for a store without it.
func creatorOf(st stateStore) createdRoomStore {
	cs, _ := st.(createdRoomStore)
	return cs
}

// mapping resolves one configured mapping into the reconciler's, creating its room first when the
// alias does not exist and the mapping asks for it (never in plan mode: w.created is nil there).
func (w *world) mapping(ctx context.Context, m config.Mapping) (plan.Mapping, error) {
	room, err := w.matrix.ResolveRoom(ctx, m.Room)
	switch {
	case err != nil && m.CreateIfMissing != nil && appservice.IsAliasNotFound(err):
		if w.created == nil {
			return plan.Mapping{}, fmt.Errorf("mapping %q → %s: %w: %w", m.Group, m.Room, errWouldCreate, err)
		}
		room, err = w.createRoom(ctx, m)
	case err == nil && m.CreateIfMissing != nil && w.created != nil:
		w.relinkCreatedRoom(ctx, m, room)
	}
	if err != nil {
		return plan.Mapping{}, fmt.Errorf("mapping %q → %s: %w", m.Group, m.Room, err)
	}
	if strings.HasPrefix(m.Room, "#") {
		if w.aliases == nil {
			w.aliases = map[id.RoomID]string{}
		}
		w.aliases[room] = m.Room
	}
	method := m.Method
	if method == "" {
		method = w.cfg.Sync.JoinMethod
	}
	sm := plan.Mapping{Group: m.Group, Room: room, Method: plan.JoinMethod(method), Rejoin: m.Rejoin, PowerLevel: m.PowerLevel}
	sm.RemoveAction = plan.RemoveAction(m.RemoveAction)
	if m.GracePeriod != nil {
		g := time.Duration(*m.GracePeriod)
		sm.GracePeriod = &g
	}
	sm.NoRemove = !m.Removes()
	sm.IncludeChildren, sm.Recursive = m.IncludeChildren, m.Recursive
	for _, r := range m.ExcludeRooms {
		sm.Exclude = append(sm.Exclude, id.RoomID(r))
	}
	return sm, nil
}

// createRoom creates the mapping's room with the bot as creator, records it and lists it in its
// parent space. A room whose space step failed is still used: the failure is logged for the
// operator, who can add it by hand.
func (w *world) createRoom(ctx context.Context, m config.Mapping) (id.RoomID, error) {
	c := m.CreateIfMissing
	var parent id.RoomID
	if c.ParentSpace != "" {
		var err error
		if parent, err = w.matrix.ResolveRoom(ctx, c.ParentSpace); err != nil {
			return "", fmt.Errorf("create_if_missing: parent space: %w", err)
		}
	}
	alias := id.RoomAlias(m.Room)
	room, err := w.matrix.CreateRoom(ctx, appservice.NewRoom{Alias: alias, Name: c.Name, Topic: c.Topic, Preset: c.Preset, ParentSpace: parent})
	if room == "" {
		return "", err
	}
	log := w.log.With().Str("room", string(room)).Str("alias", string(alias)).Str("group", m.Group).Str("parent_space", string(parent)).Logger()
	if err != nil {
		log.Error().Err(err).Msg("Created the room, but could not list it in its parent space; the next start tries again")
	} else {
		log.Info().Msg("Created a missing mapped room (create_if_missing)")
	}
	if rerr := w.created.RecordCreatedRoom(ctx, store.CreatedRoom{Alias: alias, Room: room, ParentSpace: parent, At: time.Now()}); rerr != nil {
		log.Warn().Err(rerr).Msg("Created the room, but the store did not record it")
	}
	return room, nil
}

// relinkCreatedRoom lists a room the bot created in the parent space it was created for, when the
// space does not list it: the listing failed at creation (the bot lacked the power level in the
// space, say), and each start tries again. Rooms the bot did not create are left alone.
func (w *world) relinkCreatedRoom(ctx context.Context, m config.Mapping, room id.RoomID) {
	created, err := w.created.CreatedRooms(ctx)
	if err != nil {
		w.log.Warn().Err(err).Str("room", string(room)).Msg("Could not read which rooms the bot created; their parent spaces are not checked this start")
		return
	}
	i := slices.IndexFunc(created, func(c store.CreatedRoom) bool { return c.Room == room && c.ParentSpace != "" })
	if i < 0 {
		return
	}
	parent := created[i].ParentSpace
	log := w.log.With().Str("room", string(room)).Str("alias", string(m.Room)).Str("parent_space", string(parent)).Logger()
	listed, err := w.matrix.InSpace(ctx, parent, room)
	if err != nil {
		log.Warn().Err(err).Msg("Could not check whether the created room is listed in its parent space")
		return
	}
	if listed {
		return
	}
	if err := w.matrix.AddToSpace(ctx, parent, room); err != nil {
		log.Error().Err(err).Msg("The created room is still not listed in its parent space; the next start tries again")
		return
	}
	log.Info().Msg("Listed the created room in its parent space")
}
