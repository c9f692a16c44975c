package doctor

import (
	"context"
	"fmt"
)

// MAS is Matrix Authentication Service as the checks see it, when Synapse delegates its accounts
// to it (matrix.auth: mas). Both calls only read.
type MAS interface {
	// AdminToken obtains a token for MAS's admin API with the client credentials, which proves
	// the credentials and that MAS's policy grants the client the admin scope.
	AdminToken(ctx context.Context) error
	// UpstreamProvider reads the upstream provider through the admin API and returns its name.
	UpstreamProvider(ctx context.Context, id string) (string, error)
	// Explain says what an error means for the operator: ProblemUnreachable, ProblemNotAPI,
	// ProblemToken (wrong client ID or secret), ProblemPermission (the admin scope refused)
	// or ProblemOther.
	Explain(err error) Problem
}

// MASInput is what the MAS checks need; Input.MAS nil skips them (Synapse keeps the accounts).
type MASInput struct {
	MAS MAS
	// URL is shown in the report (no secrets in it).
	URL string
	// UpstreamProvider is mas.upstream_provider; "" when identities are not looked up in MAS.
	UpstreamProvider string
}

func checkMAS(ctx context.Context, in *MASInput) []Result {
	if in == nil || in.MAS == nil {
		return nil
	}
	const tokenCheck, providerCheck = "MAS admin token", "MAS upstream provider"
	var out []Result
	if err := in.MAS.AdminToken(ctx); err != nil {
		r := Result{Check: tokenCheck, Outcome: Fail, Detail: err.Error()}
		switch in.MAS.Explain(err) {
		case ProblemUnreachable:
			r.Hint = "check mas.url / MAS_URL (" + in.URL + ") and that this machine can reach MAS"
		case ProblemNotAPI:
			r.Hint = "mas.url / MAS_URL must be MAS's public base URL (the listener with the oauth and discovery resources), not a path below it or another service"
		case ProblemToken:
			r.Hint = "check mas.client_id / MAS_CLIENT_ID and mas.client_secret / MAS_CLIENT_SECRET against MAS's clients list (client_auth_method: client_secret_basic)"
		case ProblemPermission:
			r.Hint = "list the client ID in MAS's policy.data.admin_clients, which grants it the urn:mas:admin scope"
		default:
			r.Hint = "see the error above; MAS's log says more"
		}
		out = append(out, r)
		if in.UpstreamProvider != "" {
			out = append(out, skipped(providerCheck)...)
		}
		return out
	}
	out = append(out, Result{Check: tokenCheck, Outcome: Pass, Detail: in.URL + " issued a token with the urn:mas:admin scope to the client"})
	if in.UpstreamProvider == "" {
		return out
	}
	name, err := in.MAS.UpstreamProvider(ctx, in.UpstreamProvider)
	if err != nil {
		hint := "set mas.upstream_provider / MAS_UPSTREAM_PROVIDER to the id of the Authentik provider in MAS's upstream_oauth2.providers"
		if p := in.MAS.Explain(err); p == ProblemUnreachable || p == ProblemNotAPI {
			hint = "add the adminapi resource to the MAS listener mas.url / MAS_URL points at, and check that this machine can reach it"
		}
		return append(out, Result{Check: providerCheck, Outcome: Fail, Detail: err.Error(), Hint: hint})
	}
	return append(out, Result{Check: providerCheck, Outcome: Pass,
		Detail: fmt.Sprintf("%s is %q; users are looked up by their upstream link there", in.UpstreamProvider, name)})
}
