package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/mas"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/usermap"
)

// serviceMAS labels the requests to Matrix Authentication Service in the upstream metrics.
const serviceMAS = "mas"

// newMAS builds what matrix.auth: mas adds: the client of MAS's admin API and, with
// mas.use_for_synapse_admin, the source of the tokens Synapse's admin API calls carry. Both are
// nil when Synapse keeps the accounts; the token source is then a nil interface, so that the
// homeserver client keeps sending admin calls with the bot's own token.
func newMAS(cfg *config.Config, m *metrics.Metrics) (*mas.Client, appservice.AdminTokenSource, error) {
	if !cfg.UsesMAS() {
		return nil, nil, nil
	}
	httpClient := httpClientFor(m, serviceMAS)
	c, err := mas.New(mas.Options{URL: cfg.MAS.URL, ClientID: cfg.MAS.ClientID, ClientSecret: cfg.MAS.ClientSecret,
		HTTPClient: httpClient})
	if err != nil {
		return nil, nil, err
	}
	if !cfg.MAS.UseForSynapseAdmin {
		return c, nil, nil
	}
	synapseTokens, err := mas.NewTokenSource(mas.TokenOptions{URL: cfg.MAS.URL, ClientID: cfg.MAS.ClientID,
		ClientSecret: cfg.MAS.ClientSecret, Scope: mas.ScopeSynapseAdmin, HTTPClient: httpClient})
	if err != nil {
		return nil, nil, err
	}
	return c, synapseTokens, nil
}

// externalLookup is where user_mapping.source synapse_external_id looks users up: Synapse's
// external IDs at the Authentik auth provider, or, when MAS keeps the accounts, MAS's upstream
// OAuth links at mas.upstream_provider.
func (w *world) externalLookup() (provider string, lookup usermap.ExternalLookup) {
	if w.mas != nil {
		return w.cfg.MAS.UpstreamProvider, w.masLookup()
	}
	return w.cfg.UserMapping.ExternalID.AuthProvider, w.matrix
}

func (w *world) masLookup() *mas.Lookup {
	return &mas.Lookup{Client: w.mas, Server: w.cfg.Homeserver.Domain}
}

// checkMASLookup is checkExternalIDs when MAS keeps the accounts: a token is issued and the
// upstream provider exists.
func (w *world) checkMASLookup(ctx context.Context) error {
	return w.masLookup().CheckProvider(ctx, w.cfg.MAS.UpstreamProvider)
}

// checkMAS makes sure at start that MAS issues the admin token, so that wrong credentials show
// before the first lookup or lock needs them.
func (w *world) checkMAS(ctx context.Context) error {
	if w.mas == nil {
		return nil
	}
	if _, err := w.mas.Tokens().Token(ctx); err != nil {
		return fmt.Errorf("matrix.auth is mas, but %w", err)
	}
	return nil
}

// accounts is what locks and logs out Matrix accounts: MAS's admin API when MAS keeps them,
// else Synapse's.
func (w *world) accounts() reconcile.Accounts {
	if w.mas != nil {
		return &mas.Accounts{Client: w.mas, Server: w.cfg.Homeserver.Domain}
	}
	return w.matrix
}

// masDoctor is the doctor's MAS part; nil when Synapse keeps the accounts.
func (w *world) masDoctor() *doctor.MASInput {
	if w.mas == nil {
		return nil
	}
	in := &doctor.MASInput{MAS: masProbe{w.mas}, URL: w.mas.URL()}
	if w.cfg.UsesExternalIDs() {
		in.UpstreamProvider = w.cfg.MAS.UpstreamProvider
	}
	return in
}

// masProbe is the MAS client as the doctor sees it.
type masProbe struct{ c *mas.Client }

var _ doctor.MAS = masProbe{}

func (p masProbe) AdminToken(ctx context.Context) error {
	_, err := p.c.Tokens().Token(ctx)
	return err
}

func (p masProbe) UpstreamProvider(ctx context.Context, id string) (string, error) {
	return p.c.UpstreamProvider(ctx, id)
}

func (masProbe) Explain(err error) doctor.Problem {
	var apiErr *mas.APIError
	switch {
	case errors.Is(err, mas.ErrUnreachable):
		return doctor.ProblemUnreachable
	case errors.Is(err, mas.ErrNotMAS):
		return doctor.ProblemNotAPI
	case errors.Is(err, mas.ErrBadCredentials):
		return doctor.ProblemToken
	case errors.Is(err, mas.ErrNotAllowed):
		return doctor.ProblemPermission
	case errors.As(err, &apiErr) && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden):
		return doctor.ProblemPermission
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound && len(apiErr.Titles) == 0:
		return doctor.ProblemNotAPI
	}
	return doctor.ProblemOther
}
