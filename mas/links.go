package mas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/usermap"
)

// UpstreamLink ties an account at an upstream provider (Authentik) to a MAS user. UserID is
// empty while the link belongs to nobody yet (a sign-in that did not finish registering).
type UpstreamLink struct {
	ID         string
	ProviderID string
	Subject    string
	UserID     string
}

type linkAttributes struct {
	ProviderID string  `json:"provider_id"`
	Subject    string  `json:"subject"`
	UserID     *string `json:"user_id"`
}

// FindUpstreamLink returns the link of subject at the upstream provider, and false when there
// is none. A provider MAS does not know is an error.
func (c *Client) FindUpstreamLink(ctx context.Context, provider, subject string) (UpstreamLink, bool, error) {
	op := fmt.Sprintf("look up the MAS upstream link of subject %q at provider %s", subject, provider)
	if !IsULID(provider) {
		return UpstreamLink{}, false, fmt.Errorf("%s: the provider is not a MAS ID (ULID): set mas.upstream_provider / MAS_UPSTREAM_PROVIDER to the id of the provider in MAS's upstream_oauth2.providers", op)
	}
	var p page[linkAttributes]
	q := url.Values{"filter[provider]": {provider}, "filter[subject]": {subject}, "page[first]": {"2"}}
	err := c.do(ctx, op, http.MethodGet, "upstream-oauth-links", q, &p)
	if errors.Is(err, ErrNotFound) {
		return UpstreamLink{}, false, fmt.Errorf("%w: MAS knows no upstream provider %s: set mas.upstream_provider / MAS_UPSTREAM_PROVIDER to the id of the Authentik provider in MAS's upstream_oauth2.providers", err, provider)
	}
	if err != nil {
		return UpstreamLink{}, false, err
	}
	var found []UpstreamLink
	for _, r := range p.Data {
		a := r.Attributes
		// A server that ignored the filters must not hand out someone else's account.
		if a.ProviderID != provider || a.Subject != subject {
			continue
		}
		l := UpstreamLink{ID: r.ID, ProviderID: a.ProviderID, Subject: a.Subject}
		if a.UserID != nil {
			l.UserID = *a.UserID
		}
		found = append(found, l)
	}
	switch len(found) {
	case 0:
		return UpstreamLink{}, false, nil
	case 1:
		return found[0], true, nil
	default:
		return UpstreamLink{}, false, fmt.Errorf("%s: MAS answered %d links for one subject, which it should never do", op, len(found))
	}
}

// UpstreamProvider reads the upstream provider's human-readable name, proving it exists.
func (c *Client) UpstreamProvider(ctx context.Context, provider string) (string, error) {
	op := fmt.Sprintf("read MAS upstream provider %s", provider)
	if !IsULID(provider) {
		return "", fmt.Errorf("%s: not a MAS ID (ULID): set mas.upstream_provider / MAS_UPSTREAM_PROVIDER to the id of the provider in MAS's upstream_oauth2.providers", op)
	}
	var s single[struct {
		HumanName *string `json:"human_name"`
		Issuer    *string `json:"issuer"`
	}]
	err := c.do(ctx, op, http.MethodGet, "upstream-oauth-providers/"+provider, nil, &s)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("%w: set mas.upstream_provider / MAS_UPSTREAM_PROVIDER to the id of the Authentik provider in MAS's upstream_oauth2.providers", err)
	}
	if err != nil {
		return "", err
	}
	switch a := s.Data.Attributes; {
	case a.HumanName != nil && *a.HumanName != "":
		return *a.HumanName, nil
	case a.Issuer != nil:
		return *a.Issuer, nil
	}
	return provider, nil
}

// Lookup finds the Matrix account linked to an Authentik subject through MAS's upstream OAuth
// links: link → MAS user → @username:Server. It is the ExternalLookup of user_mapping.source
// synapse_external_id when Synapse's accounts live in MAS (Synapse then keeps no external IDs).
type Lookup struct {
	Client *Client
	// Server is the homeserver's server name, the part after the colon of every Matrix ID.
	Server string
}

var _ usermap.ExternalLookup = (*Lookup)(nil)

// LookupExternalID answers "" without an error when nobody is linked to the subject yet (no
// link, or a link no user owns). Any failure to ask MAS is an error, never "nobody": the caller
// must not take an outage for an empty answer.
func (l *Lookup) LookupExternalID(ctx context.Context, provider, subject string) (id.UserID, error) {
	link, ok, err := l.Client.FindUpstreamLink(ctx, provider, subject)
	if err != nil || !ok || link.UserID == "" {
		return "", err
	}
	u, err := l.Client.UserByID(ctx, link.UserID)
	if err != nil {
		// The link names its user: a missing user is MAS contradicting itself, not "nobody".
		return "", fmt.Errorf("subject %q is linked to MAS user %s: %w", subject, link.UserID, err)
	}
	if u.Username == "" || strings.ContainsAny(u.Username, ":@") {
		return "", fmt.Errorf("subject %q is linked to MAS user %s, whose username %q is no Matrix localpart", subject, u.ID, u.Username)
	}
	return id.NewUserID(u.Username, l.Server), nil
}

// CheckProvider makes sure at start that lookups can work: a token is issued and the upstream
// provider exists.
func (l *Lookup) CheckProvider(ctx context.Context, provider string) error {
	if _, err := l.Client.UpstreamProvider(ctx, provider); err != nil {
		return fmt.Errorf("user_mapping.source is synapse_external_id with matrix.auth mas, but %w", err)
	}
	return nil
}
