package appservice

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
)

// AdminTokenSource supplies the token for Synapse's admin API when it is not the bot's own, as
// when Synapse delegates its accounts to Matrix Authentication Service and the token comes from
// MAS (a *mas.TokenSource fits).
type AdminTokenSource interface {
	// Token returns a token that is not about to expire.
	Token(ctx context.Context) (string, error)
	// Invalidate drops a token the homeserver refused, so that Token fetches a new one.
	Invalidate(token string)
}

// adminRequest runs op, one Synapse admin API call, through the rate limiter with the client
// that call must use: the bot's own, or with an AdminTokenSource a client carrying the source's
// token and no ?user_id= (that token acts for nobody else). op builds its URL from the client it
// is given. A 401 to a sourced token drops the token and sends the call once more with a new
// one.
func (m *Matrix) adminRequest(ctx context.Context, what string, op func(context.Context, *mautrix.Client) error) error {
	if m.adminTokens == nil {
		return m.withRateLimit(ctx, what, func(ctx context.Context) error { return op(ctx, m.client) })
	}
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var token string
		token, err = m.adminTokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("%s: get the admin API token: %w", what, err)
		}
		admin := m.newClient(m.bot, false)
		admin.AccessToken = token
		err = m.withRateLimit(ctx, what, func(ctx context.Context) error { return op(ctx, admin) })
		if httpStatus(err) != http.StatusUnauthorized {
			return err
		}
		m.adminTokens.Invalidate(token)
	}
	return fmt.Errorf("%w (the homeserver refuses the admin API token even when fresh: Synapse accepts only tokens issued for a user with the urn:matrix:client:api:* and urn:synapse:admin:* scopes, which a client-credentials token from MAS is not; set mas.use_for_synapse_admin / MAS_USE_FOR_SYNAPSE_ADMIN to false)", err)
}
