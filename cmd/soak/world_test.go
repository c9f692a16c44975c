package main

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestRecordGroupReads: a group counts as read when an answer of core/groups/ holds it whole
// with its members, listed or alone; not without users_obj, not from a failed or cut answer.
func TestRecordGroupReads(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		status int
		body   string
		want   []string
	}{
		{"listing with members", "/api/v3/core/groups/?include_users=true&page=1", 200,
			`{"pagination":{"next":0,"count":2},"results":[{"pk":"g1","users":[1,2],"users_obj":[{"pk":1},{"pk":2}]},{"pk":"g2","users":[],"users_obj":[]}]}`,
			[]string{"g1", "g2"}},
		{"one group with members", "/api/v3/core/groups/g3/?include_users=true", 200,
			`{"pk":"g3","users":[5],"users_obj":[{"pk":5}]}`, []string{"g3"}},
		{"the group tree, without members", "/api/v3/core/groups/?include_users=false", 200,
			`{"pagination":{"next":0,"count":1},"results":[{"pk":"g1","users":[1,2],"users_obj":null}]}`, nil},
		{"a member missing from users_obj", "/api/v3/core/groups/g4/?include_users=true", 200,
			`{"pk":"g4","users":[5,6],"users_obj":[{"pk":5}]}`, nil},
		{"a failed answer", "/api/v3/core/groups/g5/?include_users=true", 500, `{"pk":"g5","users":[],"users_obj":[]}`, nil},
		{"malformed JSON", "/api/v3/core/groups/?include_users=true", 200, `{"results":[{"pk":"g6",`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{}
			fake := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				rw.WriteHeader(tt.status)
				_, _ = rw.Write([]byte(tt.body))
			})
			w.recordReads(fake).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, tt.path, nil))
			var got []string
			for _, r := range w.reads {
				got = append(got, r.PK)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reads of %v, want %v", got, tt.want)
			}
		})
	}
}
