package scim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/scimstate"
)

// Resources is the received state, in memory and in the Store: the handler writes through it,
// the directory reads it. Before each use it compares its version with the store's, so a write
// another replica made to a shared Postgres store is seen, and a write computed from an older
// version is refused by the store and computed again.
type Resources struct {
	store  scimstate.Store
	settle time.Duration
	now    func() time.Time
	log    zerolog.Logger

	mu   sync.RWMutex
	snap scimstate.Snapshot
}

// Settings configure Resources.
type Settings struct {
	// Settle is how long the state must be quiet after its first write, and a group must exist,
	// before a group's membership counts as complete (see the incomplete rule in directory.go).
	// Zero trusts every pushed group at once.
	Settle time.Duration
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
	Log zerolog.Logger
}

// Open loads the state from store.
func Open(ctx context.Context, store scimstate.Store, s Settings) (*Resources, error) {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Settle < 0 {
		return nil, fmt.Errorf("SCIM settle time %s is negative", s.Settle)
	}
	r := &Resources{store: store, settle: s.Settle, now: s.Now, log: s.Log}
	snap, err := store.SCIMState(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the SCIM state: %w", err)
	}
	r.snap = normalise(snap)
	return r, nil
}

func normalise(s scimstate.Snapshot) scimstate.Snapshot {
	if s.Users == nil {
		s.Users = map[string]scimstate.User{}
	}
	if s.Groups == nil {
		s.Groups = map[string]scimstate.Group{}
	}
	return s
}

// refresh reloads the state when the store's version differs from the one in memory.
func (r *Resources) refresh(ctx context.Context) error {
	v, err := r.store.SCIMVersion(ctx)
	if err != nil {
		return fmt.Errorf("read the SCIM state's version: %w", err)
	}
	r.mu.RLock()
	same := v == r.snap.Version
	r.mu.RUnlock()
	if same {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(ctx, v)
}

// reloadLocked reads the whole state again unless it is already at version v; r.mu is held.
func (r *Resources) reloadLocked(ctx context.Context, v int64) error {
	if v == r.snap.Version {
		return nil
	}
	snap, err := r.store.SCIMState(ctx)
	if err != nil {
		return fmt.Errorf("read the SCIM state: %w", err)
	}
	r.log.Debug().Int64("from", r.snap.Version).Int64("to", snap.Version).Msg("SCIM state changed elsewhere; reloaded")
	r.snap = normalise(snap)
	return nil
}

// view calls fn with the current state, which fn must not change or keep.
func (r *Resources) view(ctx context.Context, fn func(s *scimstate.Snapshot)) error {
	if err := r.refresh(ctx); err != nil {
		return err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(&r.snap)
	return nil
}

// staleRetries bounds the recomputations of a write that other replicas keep overtaking.
const staleRetries = 5

// update computes a change from the state in memory with fn (which must not change the state
// itself), writes it, and applies it in memory. fn returning a nil change writes nothing. Memory is
// current for this replica's own writes, since they all hold r.mu; the store's version check
// catches other replicas' writes (ErrStale), and then update reloads and computes again. An answer
// that writes nothing (an error or no change) is checked against the store's version before it is
// given, so that it is never one computed from a state other replicas have moved past.
func (r *Resources) update(ctx context.Context, fn func(s *scimstate.Snapshot) (*scimstate.Change, *Error)) *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	checked := false
	for attempt := 0; ; attempt++ {
		c, e := fn(&r.snap)
		if e != nil || c == nil {
			if checked {
				return e
			}
			checked = true
			v, err := r.store.SCIMVersion(ctx)
			if err != nil {
				return unavailable(fmt.Errorf("read the SCIM state's version: %w", err))
			}
			if v == r.snap.Version {
				return e
			}
			if err := r.reloadLocked(ctx, v); err != nil {
				return unavailable(err)
			}
			continue
		}
		now := r.clock()
		c.Base, c.At = r.snap.Version, now
		if settled, ok := r.settledAtLocked(now); ok && r.snap.SettledAt.IsZero() {
			c.Settled = settled
		}
		err := r.store.ApplySCIM(ctx, *c)
		switch {
		case err == nil:
			r.snap.Apply(*c)
			return nil
		case errors.Is(err, scimstate.ErrStale) && attempt < staleRetries:
			v, err := r.store.SCIMVersion(ctx)
			if err != nil {
				return unavailable(fmt.Errorf("read the SCIM state's version: %w", err))
			}
			if err := r.reloadLocked(ctx, v); err != nil {
				return unavailable(err)
			}
		default:
			return unavailable(err)
		}
	}
}

// settledAtLocked says whether the state has settled by now, and since when: once it was quiet
// for the settle time after a write.
func (r *Resources) settledAtLocked(now time.Time) (time.Time, bool) {
	s := &r.snap
	switch {
	case !s.SettledAt.IsZero():
		return s.SettledAt, true
	case s.LastWrite.IsZero():
		return time.Time{}, false
	case now.Sub(s.LastWrite) >= r.settle:
		return s.LastWrite.Add(r.settle), true
	}
	return time.Time{}, false
}

// clock is the time stores keep: UTC, to the millisecond, so that memory and a reload agree.
func (r *Resources) clock() time.Time {
	return r.now().UTC().Truncate(time.Millisecond)
}

func unavailable(err error) *Error {
	return &Error{Status: 503, Detail: fmt.Sprintf("the state store cannot be used right now; retry later: %v", err)}
}
