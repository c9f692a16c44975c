package doctor

import (
	"context"
	"strings"
	"testing"
)

// TestSCIMTree: with directory.source scim, the doctor says whether Authentik's group tree, from
// which the members of subgroups are counted, can be read; it fails whenever the groups cannot
// be listed, since no group would ever be complete.
func TestSCIMTree(t *testing.T) {
	tests := []struct {
		name  string
		scim  bool
		setup func(*fakeAuthentik)
		want  Outcome
	}{
		{name: "the API source has no such line", scim: false},
		{name: "a readable tree passes", scim: true, want: Pass},
		{name: "Authentik unreachable fails it", scim: true, setup: func(a *fakeAuthentik) { a.versionErr = errDown }, want: Fail},
		{name: "a refused token fails it", scim: true, setup: func(a *fakeAuthentik) { a.versionErr = errBadToken }, want: Fail},
		{name: "a token that may not list groups fails it", scim: true, setup: func(a *fakeAuthentik) { a.groupsErr = errNoPerm }, want: Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ak, hs := healthy()
			if tt.setup != nil {
				tt.setup(ak)
			}
			in := input(ak, hs)
			in.DirectorySCIM = tt.scim
			r := Run(context.Background(), in)
			var line *Result
			for i, res := range r.Results {
				if strings.HasPrefix(res.Check, "SCIM directory") {
					line = &r.Results[i]
				}
			}
			switch {
			case !tt.scim && line != nil:
				t.Fatalf("a SCIM line without directory.source scim: %+v", line)
			case !tt.scim:
				return
			case line == nil:
				t.Fatalf("no SCIM line:\n%s", r)
			case line.Outcome != tt.want:
				t.Fatalf("%s = %s, want %s:\n%s", line.Check, line.Outcome, tt.want, r)
			case line.Outcome == Fail && (!strings.Contains(line.Hint, "authentik.token") || !strings.Contains(line.Detail, "nobody is removed")):
				t.Errorf("the failing line does not say what it means and what to set: %+v", line)
			}
		})
	}
}
