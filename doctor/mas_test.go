package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

var (
	errMASCreds = errors.New("MAS refused the client credentials (invalid_client)")
	errMASScope = errors.New("MAS refused the client this grant or scope (invalid_scope)")
	errMAS404   = errors.New("MAS answered HTTP 404 (Provider not found)")
)

// fakeMAS answers as a working MAS unless told otherwise.
type fakeMAS struct {
	tokenErr, providerErr error
}

func (f *fakeMAS) AdminToken(context.Context) error { return f.tokenErr }
func (f *fakeMAS) UpstreamProvider(context.Context, string) (string, error) {
	return "Authentik", f.providerErr
}
func (f *fakeMAS) Explain(err error) Problem {
	switch {
	case errors.Is(err, errDown):
		return ProblemUnreachable
	case errors.Is(err, errHTML):
		return ProblemNotAPI
	case errors.Is(err, errMASCreds):
		return ProblemToken
	case errors.Is(err, errMASScope):
		return ProblemPermission
	}
	return ProblemOther
}

func TestMASChecks(t *testing.T) {
	const homeserver = `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=PASS; ` +
		`Authentik group "engineering"=PASS; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`
	tests := []struct {
		name     string
		mas      *fakeMAS
		provider string
		want     string
		hint     string // the failing line's hint must contain this
	}{
		{name: "no MAS: the report is as before", want: homeserver},
		{name: "a token and the provider", mas: &fakeMAS{}, provider: "01H8PKNWKKRPCBW4YGH1RWV279",
			want: homeserver + "; MAS admin token=PASS; MAS upstream provider=PASS"},
		{name: "a token, no lookups through MAS", mas: &fakeMAS{}, want: homeserver + "; MAS admin token=PASS"},
		{name: "MAS unreachable", mas: &fakeMAS{tokenErr: errDown}, provider: "01H8PKNWKKRPCBW4YGH1RWV279",
			want: homeserver + "; MAS admin token=FAIL; MAS upstream provider=SKIP", hint: "check mas.url / MAS_URL (https://auth.example.com)"},
		{name: "not MAS at that URL", mas: &fakeMAS{tokenErr: errHTML},
			want: homeserver + "; MAS admin token=FAIL", hint: "MAS's public base URL"},
		{name: "wrong client credentials", mas: &fakeMAS{tokenErr: errMASCreds},
			want: homeserver + "; MAS admin token=FAIL", hint: "check mas.client_id / MAS_CLIENT_ID and mas.client_secret / MAS_CLIENT_SECRET"},
		{name: "a client without the admin scope", mas: &fakeMAS{tokenErr: errMASScope},
			want: homeserver + "; MAS admin token=FAIL", hint: "policy.data.admin_clients"},
		{name: "an unknown provider", mas: &fakeMAS{providerErr: errMAS404}, provider: "01H8PKNWKKRPCBW4YGH1RWV27A",
			want: homeserver + "; MAS admin token=PASS; MAS upstream provider=FAIL", hint: "mas.upstream_provider / MAS_UPSTREAM_PROVIDER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ak, hs := healthy()
			in := input(ak, hs)
			if tc.mas != nil {
				in.MAS = &MASInput{MAS: tc.mas, URL: "https://auth.example.com", UpstreamProvider: tc.provider}
			}
			r := Run(t.Context(), in)
			if got := outcomes(r); got != tc.want {
				t.Fatalf("outcomes\n got %s\nwant %s", got, tc.want)
			}
			if tc.hint == "" {
				if !r.OK() {
					t.Errorf("report not OK:\n%s", r)
				}
				return
			}
			if !strings.Contains(r.String(), "fix: ") || !strings.Contains(r.String(), tc.hint) {
				t.Errorf("report lacks the hint %q:\n%s", tc.hint, r)
			}
		})
	}
}
