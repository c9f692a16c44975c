package usermap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// Subjects an external-ID mapping may take from an Authentik user. The subject must be what
// Synapse stored as the external ID when the user first signed in: Authentik's OIDC provider
// sends the hashed uid as sub by default.
const (
	SubjectUID      = "uid"
	SubjectPK       = "pk"
	SubjectUsername = "username"
	// SubjectAttributePrefix starts "attribute:NAME", a user attribute holding the subject.
	SubjectAttributePrefix = "attribute:"
)

// DefaultExternalRefresh is how long a looked-up Matrix ID is trusted before it is asked again.
const DefaultExternalRefresh = time.Hour

// maxNegativeRefresh bounds how long "nobody has this external ID" is trusted: such a user is
// likely to sign in soon and should not wait an hour to be added.
const maxNegativeRefresh = 10 * time.Minute

// CachedID is a stored lookup: the Matrix user linked to an external ID when it was checked,
// empty when Synapse knew nobody.
type CachedID struct {
	User      id.UserID
	CheckedAt time.Time
}

// ExternalCache stores lookups between cycles, so that a cycle with no changes asks the
// homeserver nothing.
type ExternalCache interface {
	ExternalIDs(ctx context.Context, provider string) (map[string]CachedID, error)
	PutExternalID(ctx context.Context, provider, subject string, c CachedID) error
}

// ExternalLookup asks the homeserver which user an external ID belongs to; "" and no error when
// nobody.
type ExternalLookup interface {
	LookupExternalID(ctx context.Context, provider, subject string) (id.UserID, error)
}

// ExternalResolver maps Authentik users to the Matrix accounts Synapse linked to them at an auth
// provider, so that a user renamed in Authentik keeps their Matrix ID.
type ExternalResolver struct {
	// Provider is Synapse's idp_id of the Authentik provider, e.g. oidc-authentik.
	Provider string
	// Subject is uid, pk, username or attribute:NAME.
	Subject string
	// Refresh is how long a cached answer is used; zero means DefaultExternalRefresh.
	Refresh time.Duration
	Lookup  ExternalLookup
	// Cache may be nil: then every cycle asks for every user.
	Cache ExternalCache
	Now   func() time.Time
}

// CheckSubject reports whether subject is one ExternalResolver understands.
func CheckSubject(subject string) error {
	switch {
	case subject == SubjectUID, subject == SubjectPK, subject == SubjectUsername:
		return nil
	case strings.HasPrefix(subject, SubjectAttributePrefix) && len(subject) > len(SubjectAttributePrefix):
		return nil
	}
	return fmt.Errorf("subject %q is not uid, pk, username or attribute:NAME", subject)
}

// subjectOf returns the external ID of an Authentik user.
func (r *ExternalResolver) subjectOf(u Identity) (string, error) {
	var v string
	switch r.Subject {
	case SubjectUID, "":
		v = u.UID
	case SubjectPK:
		if u.PK != 0 {
			v = strconv.Itoa(u.PK)
		}
	case SubjectUsername:
		v = u.Username
	default:
		name := strings.TrimPrefix(r.Subject, SubjectAttributePrefix)
		if raw, ok := u.Attributes[name]; ok {
			switch t := raw.(type) {
			case string:
				v = t
			case float64:
				v = strconv.FormatFloat(t, 'f', -1, 64)
			}
		}
	}
	if strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("user %q from Authentik has no %s to look up in Synapse's external IDs", u.Username, r.Subject)
	}
	return v, nil
}

// Resolution is one user's answer. User is empty when Synapse knows nobody for the subject (no
// Matrix account yet); Err is set when the answer is not known (then User may hold the last known
// one, usable for additions but not as proof for removals).
type Resolution struct {
	User id.UserID
	Err  error
}

// Resolve maps identities to Matrix IDs, keyed by Authentik pk. Answers younger than Refresh
// come from the cache; the others are asked and stored. The error reports a cache that could not
// be read or written: the answers are complete all the same.
func (r *ExternalResolver) Resolve(ctx context.Context, users []Identity) (map[int]Resolution, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	refresh := r.Refresh
	if refresh <= 0 {
		refresh = DefaultExternalRefresh
	}
	cached := map[string]CachedID{}
	var cacheErr error
	if r.Cache != nil {
		if c, err := r.Cache.ExternalIDs(ctx, r.Provider); err != nil {
			cacheErr = err
		} else {
			cached = c
		}
	}
	out := make(map[int]Resolution, len(users))
	asked := map[string]Resolution{}
	for _, u := range users {
		if _, done := out[u.PK]; done {
			continue
		}
		subject, err := r.subjectOf(u)
		if err != nil {
			out[u.PK] = Resolution{Err: err}
			continue
		}
		if res, ok := asked[subject]; ok {
			out[u.PK] = res
			continue
		}
		c, hit := cached[subject]
		ttl := refresh
		if c.User == "" {
			ttl = min(refresh, maxNegativeRefresh)
		}
		if hit && now().Sub(c.CheckedAt) < ttl {
			out[u.PK] = Resolution{User: c.User}
			continue
		}
		user, err := r.Lookup.LookupExternalID(ctx, r.Provider, subject)
		var res Resolution
		switch {
		case err != nil:
			// The last known answer still adds the user; the error keeps removals away.
			res = Resolution{User: c.User, Err: fmt.Errorf("user %q from Authentik: %w", u.Username, err)}
		default:
			res = Resolution{User: user}
			if r.Cache != nil && cacheErr == nil {
				if perr := r.Cache.PutExternalID(ctx, r.Provider, subject, CachedID{User: user, CheckedAt: now()}); perr != nil {
					cacheErr = perr
				}
			}
		}
		asked[subject] = res
		out[u.PK] = res
	}
	if cacheErr != nil {
		// Without the cache the answers are still right; only more requests are made.
		return out, fmt.Errorf("external ID cache of %s: %w", r.Provider, cacheErr)
	}
	return out, nil
}
