package app

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/mas"
	"authentik-matrix-sync/mas/mastest"
)

const masTestProvider = "01H8PKNWKKRPCBW4YGH1RWV279"

func masConfig(t *testing.T, f *mastest.Server, env map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{
		"AUTHENTIK_URL": "https://auth.example.com", "AUTHENTIK_TOKEN": "ak-token",
		"MATRIX_HOMESERVER_URL": "http://127.0.0.1:1", "MATRIX_USER_ID": "@bot:example.org", "MATRIX_ACCESS_TOKEN": "syt-token",
		"SYNC_MAPPINGS": `[{"group":"staff","room":"!staff:example.org"}]`,
	}
	if f != nil {
		base["MATRIX_AUTH"], base["MAS_URL"] = "mas", f.URL
		base["MAS_CLIENT_ID"], base["MAS_CLIENT_SECRET"] = mastest.ClientID, mastest.ClientSecret
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := base[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSynapseModeWiresNoMAS: without matrix.auth mas nothing of MAS is built, and the admin
// token source handed to the homeserver client is a nil interface (a nil *mas.TokenSource in it
// would send every admin call through a token source that does not exist).
func TestSynapseModeWiresNoMAS(t *testing.T) {
	cfg := masConfig(t, nil, nil)
	c, src, err := newMAS(cfg, nil)
	if err != nil || c != nil || src != nil {
		t.Fatalf("newMAS = %v, %v, %v; want nothing", c, src, err)
	}
	w, err := newWorld(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if w.mas != nil || w.masDoctor() != nil {
		t.Error("a MAS client or doctor check without matrix.auth mas")
	}
	if _, ok := w.accounts().(*appservice.Matrix); !ok {
		t.Errorf("accounts = %T, want Synapse's", w.accounts())
	}
	if provider, lookup := w.externalLookup(); provider != "" || lookup != w.matrix {
		t.Errorf("externalLookup = %q, %T; want Synapse's", provider, lookup)
	}
}

func TestMASModeWiring(t *testing.T) {
	f := mastest.New(t)
	f.AddProvider(masTestProvider, "Authentik")
	for _, tc := range []struct {
		name        string
		env         map[string]string
		synapseToks bool
		provider    string
	}{
		{"accounts and tokens from MAS", nil, false, ""},
		{"identities from MAS", map[string]string{"MAS_UPSTREAM_PROVIDER": masTestProvider}, false, masTestProvider},
		{"Synapse admin calls with a MAS token", map[string]string{"MAS_USE_FOR_SYNAPSE_ADMIN": "true"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := masConfig(t, f, tc.env)
			if tc.provider != "" {
				cfg.UserMapping.Source = config.SourceSynapseExternalID
			}
			_, src, err := newMAS(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := src.(*mas.TokenSource); ok != tc.synapseToks {
				t.Errorf("Synapse admin token source %T, want one: %v", src, tc.synapseToks)
			}
			w, err := newWorld(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := w.accounts().(*mas.Accounts); !ok {
				t.Errorf("accounts = %T, want MAS's", w.accounts())
			}
			if provider, lookup := w.externalLookup(); provider != cfg.MAS.UpstreamProvider {
				t.Errorf("externalLookup provider %q", provider)
			} else if l, ok := lookup.(*mas.Lookup); !ok || l.Server != "example.org" {
				t.Errorf("externalLookup = %T %+v, want MAS's for example.org", lookup, lookup)
			}
			in := w.masDoctor()
			if in == nil || in.UpstreamProvider != tc.provider {
				t.Fatalf("doctor input %+v, want provider %q", in, tc.provider)
			}
			if err := w.checkMAS(t.Context()); err != nil {
				t.Errorf("checkMAS: %v", err)
			}
			if tc.provider != "" {
				if err := w.checkExternalIDs(t.Context()); err != nil {
					t.Errorf("checkExternalIDs: %v", err)
				}
			}
		})
	}
}

// TestMASProbeExplainsRealErrors: the doctor's classification of MAS errors, fed the errors the
// real client meets against the fake, so that each failing check gets the hint that fits.
func TestMASProbeExplainsRealErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(f *mastest.Server)
		env      map[string]string
		provider string // read the provider rather than just obtain a token
		want     doctor.Problem
	}{
		{name: "wrong secret", env: map[string]string{"MAS_CLIENT_SECRET": "wrong-secret"}, want: doctor.ProblemToken},
		{name: "not an admin client", setup: func(f *mastest.Server) { f.AddClient("01J44QC8BCY7FCFM7WGHQGKMTJ", "s3cret", false) },
			env: map[string]string{"MAS_CLIENT_ID": "01J44QC8BCY7FCFM7WGHQGKMTJ", "MAS_CLIENT_SECRET": "s3cret"}, want: doctor.ProblemPermission},
		{name: "MAS down", setup: func(f *mastest.Server) { f.SetDown(true) }, want: doctor.ProblemUnreachable},
		{name: "MAS failing", setup: func(f *mastest.Server) { f.FailToken(500) }, want: doctor.ProblemOther},
		{name: "unknown provider", provider: "01H8PKNWKKRPCBW4YGH1RWV27A", want: doctor.ProblemOther},
		{name: "not MAS at that URL", env: map[string]string{"MAS_URL": "{URL}/elsewhere"}, want: doctor.ProblemNotAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mastest.New(t)
			f.AddProvider(masTestProvider, "Authentik")
			if tc.setup != nil {
				tc.setup(f)
			}
			env := map[string]string{}
			for k, v := range tc.env {
				env[k] = strings.ReplaceAll(v, "{URL}", f.URL)
			}
			w, err := newWorld(masConfig(t, f, env), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			p := masProbe{w.mas}
			err = p.AdminToken(t.Context())
			if tc.provider != "" && err == nil {
				_, err = p.UpstreamProvider(t.Context(), tc.provider)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := p.Explain(err); got != tc.want {
				t.Errorf("Explain(%v) = %v, want %v", err, got, tc.want)
			}
			if strings.Contains(err.Error(), mastest.ClientSecret) || strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
	t.Run("working", func(t *testing.T) {
		f := mastest.New(t)
		f.AddProvider(masTestProvider, "Authentik")
		w, err := newWorld(masConfig(t, f, nil), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		p := masProbe{w.mas}
		if err := p.AdminToken(t.Context()); err != nil {
			t.Fatal(err)
		}
		if name, err := p.UpstreamProvider(t.Context(), masTestProvider); err != nil || name != "Authentik" {
			t.Errorf("UpstreamProvider = %q, %v", name, err)
		}
	})
}
