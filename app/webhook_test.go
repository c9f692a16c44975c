package app

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/directory"
)

func TestWithAncestors(t *testing.T) {
	// all ⊃ eng ⊃ {backend, frontend}; backend also sits under oncall (two parents); a loop
	// x ⊃ y ⊃ x must not hang.
	tree := []directory.Group{
		{PK: "p-all", Name: "all", Children: []string{"p-eng"}},
		{PK: "p-eng", Name: "eng", Children: []string{"p-backend", "p-frontend"}},
		{PK: "p-backend", Name: "backend"},
		{PK: "p-frontend", Name: "frontend"},
		{PK: "p-oncall", Name: "oncall", Children: []string{"p-backend"}},
		{PK: "p-x", Name: "x", Children: []string{"p-y"}},
		{PK: "p-y", Name: "y", Children: []string{"p-x"}},
		{PK: "p-lone", Name: "lone"},
	}
	tests := []struct {
		names  []string
		want   []string
		wantOK bool
	}{
		{[]string{"lone"}, []string{"lone"}, true},
		{[]string{"frontend"}, []string{"all", "eng", "frontend"}, true},
		{[]string{"backend"}, []string{"all", "backend", "eng", "oncall"}, true},
		{[]string{"all"}, []string{"all"}, true},
		{[]string{"x"}, []string{"x", "y"}, true},
		{[]string{"lone", "frontend"}, []string{"all", "eng", "frontend", "lone"}, true},
		{[]string{"lone", "deleted"}, nil, false},
	}
	for _, tt := range tests {
		got, ok := withAncestors(tree, tt.names)
		if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("withAncestors(%v) = %v, %v; want %v, %v", tt.names, got, ok, tt.want, tt.wantOK)
		}
	}
}

type fakeGroupTree struct {
	groups []directory.Group
	err    error
}

func (f fakeGroupTree) ListGroups(context.Context) ([]directory.Group, error) { return f.groups, f.err }

type recordedTriggers [][]string

func (r *recordedTriggers) TriggerGroups(groups []string) { *r = append(*r, groups) }

func TestWebhookTriggerWidensOrFallsBack(t *testing.T) {
	tree := []directory.Group{
		{PK: "p-eng", Name: "eng", Children: []string{"p-backend"}},
		{PK: "p-backend", Name: "backend"},
	}
	tests := []struct {
		name   string
		lister groupLister
		fired  []string
		want   []string
	}{
		{"everything stays everything", fakeGroupTree{groups: tree}, nil, nil},
		{"a subgroup brings its parents", fakeGroupTree{groups: tree}, []string{"backend"}, []string{"backend", "eng"}},
		{"a deleted group syncs everything", fakeGroupTree{groups: tree}, []string{"gone"}, nil},
		{"an unreadable tree syncs everything", fakeGroupTree{err: errors.New("503")}, []string{"backend"}, nil},
		{"no lister syncs everything", nil, []string{"backend"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got recordedTriggers
			trig := &webhookTrigger{ctx: context.Background(), rec: &got, groups: tt.lister, log: zerolog.Nop()}
			trig.fire(tt.fired)
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("triggered %#v, want one trigger of %#v", [][]string(got), tt.want)
			}
		})
	}
}

func TestListenerTimeouts(t *testing.T) {
	// The webhook listener takes SCIM's longer timeouts when the SCIM endpoint shares it: a PATCH
	// of a large group must not be cut off at the webhook's.
	tests := []struct {
		name string
		l    listener
		want time.Duration
	}{
		{"webhook alone", webhookListener(":0", http.NewServeMux(), false), webhookTimeout},
		{"webhook with SCIM mounted", webhookListener(":0", http.NewServeMux(), true), scimTimeout},
		{"SCIM on its own listener", scimListener(":0", http.NewServeMux()), scimTimeout},
	}
	for _, tt := range tests {
		srv := tt.l.server()
		if srv.ReadTimeout != tt.want || srv.WriteTimeout != tt.want {
			t.Errorf("%s: read/write timeouts %v/%v, want %v", tt.name, srv.ReadTimeout, srv.WriteTimeout, tt.want)
		}
		if srv.ReadHeaderTimeout != 5*time.Second {
			t.Errorf("%s: header timeout %v, want 5s", tt.name, srv.ReadHeaderTimeout)
		}
	}
}
