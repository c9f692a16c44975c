package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeAuthentik answers as a working Authentik unless told otherwise. Errors are classified by
// the problems map, as the real client's typed errors are.
type fakeAuthentik struct {
	version                    string
	versionErr, meErr, usersEr error
	groupsErr                  error
	names                      []string
}

var (
	errDown       = errors.New("dial tcp 127.0.0.1:9: connection refused")
	errHTML       = errors.New("the answer is text/html, not JSON")
	errBadToken   = errors.New("HTTP 403: Token invalid/expired")
	errNoHeader   = errors.New("HTTP 403: Authentication credentials were not provided")
	errNoPerm     = errors.New("HTTP 403: You do not have permission to perform this action")
	errServer     = errors.New("HTTP 500")
	errNotJoined  = errors.New("bot is not joined to the room")
	errNoAlias    = errors.New("no such alias")
	errPingFailed = errors.New("the homeserver cannot reach the appservice")
)

var classify = map[error]Problem{errDown: ProblemUnreachable, errHTML: ProblemNotAPI, errBadToken: ProblemToken, errNoHeader: ProblemTokenNotSent, errNoPerm: ProblemPermission}

func (f *fakeAuthentik) Version(context.Context) (string, error) {
	if f.versionErr != nil {
		return "", f.versionErr
	}
	return f.version, nil
}
func (f *fakeAuthentik) Me(context.Context) (string, error) { return "akadmin", f.meErr }
func (f *fakeAuthentik) CanListUsers(context.Context) error { return f.usersEr }
func (f *fakeAuthentik) GroupNames(context.Context) ([]string, error) {
	if f.groupsErr != nil {
		return nil, f.groupsErr
	}
	return f.names, nil
}

// hintedError is an error that ends with its own fix, as the real client's answers do.
type hintedError struct {
	error
	hint string
}

func (e hintedError) Error() string { return e.error.Error() + " (" + e.hint + ")" }
func (e hintedError) Unwrap() error { return e.error }

func (f *fakeAuthentik) SplitHint(err error) (string, string) {
	var h hintedError
	if errors.As(err, &h) {
		return h.error.Error(), h.hint
	}
	return err.Error(), ""
}
func (f *fakeAuthentik) Explain(err error) Problem {
	for e, p := range classify {
		if errors.Is(err, e) {
			return p
		}
	}
	return ProblemOther
}

type fakeHomeserver struct {
	reachErr, identityErr, pingErr, forceErr error
	appservice, force                        bool
	pingProblem                              PingProblem
	rooms                                    map[string]RoomPower
	roomErr                                  map[string]error
	invited                                  map[string]bool // rooms the bot is invited to, with roomErr
}

func (f *fakeHomeserver) Reachable(context.Context) error { return f.reachErr }
func (f *fakeHomeserver) Identity(context.Context) (string, error) {
	return "@bot:hs", f.identityErr
}
func (f *fakeHomeserver) Appservice(context.Context) (string, bool, error) {
	return "pinged", f.appservice, f.pingErr
}
func (f *fakeHomeserver) ExplainPing(error) PingProblem { return f.pingProblem }
func (f *fakeHomeserver) ForceJoin(context.Context) (string, bool, error) {
	return "via appservice", f.force, f.forceErr
}
func (f *fakeHomeserver) Room(_ context.Context, room string) (RoomPower, error) {
	if err := f.roomErr[room]; err != nil {
		return RoomPower{Invited: f.invited[room]}, err
	}
	return f.rooms[room], nil
}
func (f *fakeHomeserver) IsAliasMissing(err error) bool { return errors.Is(err, errNoAlias) }

func healthy() (*fakeAuthentik, *fakeHomeserver) {
	return &fakeAuthentik{version: "2025.12.4", names: []string{"authentik Admins", "backend", "engineering"}},
		&fakeHomeserver{rooms: map[string]RoomPower{
			"#eng:hs": {ID: "!eng:hs", Bot: 100, Invite: 0, Kick: 50, Ban: 50, PowerLevels: 100},
		}}
}

func input(ak *fakeAuthentik, hs *fakeHomeserver, needs ...Need) Input {
	if len(needs) == 0 {
		needs = []Need{{Room: "#eng:hs", Groups: []string{"engineering"}, Kick: true}}
	}
	in := Input{Authentik: ak, Homeserver: hs, AuthentikURL: "https://auth.example.com", HomeserverURL: "http://hs:8008", Rooms: needs}
	for _, n := range needs {
		in.Groups = append(in.Groups, n.Groups...)
	}
	return in
}

// outcomes renders "Check=OUTCOME" for each result, in order, for compact comparison.
func outcomes(r Report) string {
	var parts []string
	for _, res := range r.Results {
		parts = append(parts, res.Check+"="+res.Outcome.String())
	}
	return strings.Join(parts, "; ")
}

func TestRun(t *testing.T) {
	allPass := `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=PASS; ` +
		`Authentik group "engineering"=PASS; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`
	tests := []struct {
		name   string
		setup  func(*fakeAuthentik, *fakeHomeserver)
		needs  []Need
		want   string
		detail string // a failing line's detail or hint must contain this
	}{
		{name: "everything works", want: allPass},
		{name: "Authentik unreachable skips its other checks",
			setup: func(a *fakeAuthentik, _ *fakeHomeserver) { a.versionErr = errDown },
			want: `Authentik reachable=FAIL; Authentik token=SKIP; Authentik version=SKIP; Authentik permissions=SKIP; Authentik groups=SKIP; ` +
				`Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "check AUTHENTIK_URL (https://auth.example.com)"},
		{name: "a login page instead of the API",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.versionErr = errHTML },
			want:   `Authentik reachable=FAIL; Authentik token=SKIP; Authentik version=SKIP; Authentik permissions=SKIP; Authentik groups=SKIP; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "Authentik's base address"},
		{name: "bad token",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.versionErr = errBadToken },
			want:   `Authentik reachable=PASS; Authentik token=FAIL; Authentik version=SKIP; Authentik permissions=SKIP; Authentik groups=SKIP; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "create an API token"},
		{name: "token without permission",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.usersEr = errNoPerm; a.groupsErr = errNoPerm },
			want:   `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=FAIL; Authentik groups=SKIP; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "may not list users or groups"},
		{name: "only groups denied",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.groupsErr = errNoPerm },
			want:   `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=FAIL; Authentik groups=SKIP; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "may not list groups"},
		{name: "listing fails otherwise",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.usersEr = errServer },
			want:   `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=FAIL; Authentik groups=SKIP; Homeserver reachable=PASS; Bot identity=PASS; Room #eng:hs=PASS`,
			detail: "HTTP 500"},
		{name: "too old a version",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.version = "2023.10.7" },
			want:   strings.Replace(allPass, "Authentik version=PASS", "Authentik version=FAIL", 1),
			detail: "upgrade Authentik to 2024.2 or later"},
		{name: "a newer version than tested passes",
			setup: func(a *fakeAuthentik, _ *fakeHomeserver) { a.version = "2027.2.0" },
			want:  allPass},
		{name: "an unreadable version",
			setup:  func(a *fakeAuthentik, _ *fakeHomeserver) { a.version = "main" },
			want:   strings.Replace(allPass, "Authentik version=PASS", "Authentik version=FAIL", 1),
			detail: "not of the form"},
		{name: "missing group with a near name",
			needs:  []Need{{Room: "#eng:hs", Groups: []string{"Enginering"}, Kick: true}},
			want:   strings.Replace(allPass, `Authentik group "engineering"=PASS`, `Authentik group "Enginering"=FAIL`, 1),
			detail: `did you mean "engineering"?`},
		{name: "homeserver unreachable skips the rooms",
			setup:  func(_ *fakeAuthentik, h *fakeHomeserver) { h.reachErr = errDown },
			want:   `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=PASS; Authentik group "engineering"=PASS; Homeserver reachable=FAIL; Bot identity=SKIP; Room #eng:hs=SKIP`,
			detail: "MATRIX_HOMESERVER_URL (http://hs:8008)"},
		{name: "wrong bot identity",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) { h.identityErr = errors.New("it belongs to @other:hs") },
			want:  `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=PASS; Authentik group "engineering"=PASS; Homeserver reachable=PASS; Bot identity=FAIL; Room #eng:hs=SKIP`},
		{name: "appservice ping fails",
			setup:  func(_ *fakeAuthentik, h *fakeHomeserver) { h.appservice = true; h.pingErr = errPingFailed },
			want:   strings.Replace(allPass, "Bot identity=PASS", "Bot identity=PASS; Appservice registration=FAIL", 1),
			detail: "app_service_config_files"},
		{name: "appservice registration without url",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.appservice, h.pingErr, h.pingProblem = true, errors.New("the registration has no url"), PingNoURL
			},
			want:   strings.Replace(allPass, "Bot identity=PASS", "Bot identity=PASS; Appservice registration=FAIL", 1),
			detail: "set url in the registration file"},
		{name: "a homeserver too old to ping passes, saying so",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.appservice, h.pingErr, h.pingProblem = true, errors.New("M_UNRECOGNIZED"), PingUnsupported
			},
			want:   strings.Replace(allPass, "Bot identity=PASS", "Bot identity=PASS; Appservice registration=PASS", 1),
			detail: "too old to ping the appservice; whether it reaches the bot's listener is not checked"},
		{name: "appservice and force joins pass",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) { h.appservice = true; h.force = true },
			want:  strings.Replace(allPass, "Bot identity=PASS", "Bot identity=PASS; Appservice registration=PASS; Force joins=PASS", 1)},
		{name: "force joins without a route",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.force = true
				h.forceErr = errors.New("not a server admin")
			},
			want: strings.Replace(allPass, "Bot identity=PASS", "Bot identity=PASS; Force joins=FAIL", 1)},
		{name: "bot not in the room",
			setup:  func(_ *fakeAuthentik, h *fakeHomeserver) { h.roomErr = map[string]error{"#eng:hs": errNotJoined} },
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "invite @bot:hs"},
		{name: "bot invited, not joined",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.roomErr = map[string]error{"#eng:hs": errNotJoined}
				h.invited = map[string]bool{"#eng:hs": true}
			},
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "@bot:hs is invited, not joined"},
		{name: "alias missing",
			setup:  func(_ *fakeAuthentik, h *fakeHomeserver) { h.roomErr = map[string]error{"#eng:hs": errNoAlias} },
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "create_if_missing"},
		{name: "alias missing but created at start",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) { h.roomErr = map[string]error{"#eng:hs": errNoAlias} },
			needs: []Need{{Room: "#eng:hs", Groups: []string{"engineering"}, CreatedOnStart: true}},
			want:  allPass},
		{name: "bot below the kick level",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 0, Invite: 0, Kick: 50, Ban: 50, PowerLevels: 100}
			},
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "kick needs 50"},
		{name: "an invite-only mapping needs no kick level",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 0, Invite: 0, Kick: 50, Ban: 50, PowerLevels: 100}
			},
			needs: []Need{{Room: "#eng:hs", Groups: []string{"engineering"}}},
			want:  allPass},
		{name: "ban needs the ban level",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 50, Invite: 0, Kick: 50, Ban: 75, PowerLevels: 100}
			},
			needs:  []Need{{Room: "#eng:hs", Groups: []string{"engineering"}, Ban: true}},
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "ban needs 75"},
		{name: "power-level mapping needs the power_levels level and the granted level",
			setup: func(_ *fakeAuthentik, h *fakeHomeserver) {
				h.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 50, Invite: 0, Kick: 50, Ban: 50, PowerLevels: 50}
			},
			needs:  []Need{{Room: "#eng:hs", Groups: []string{"engineering"}, Kick: true, PowerLevel: 75}},
			want:   strings.Replace(allPass, "Room #eng:hs=PASS", "Room #eng:hs=FAIL", 1),
			detail: "granting level 75 needs 75"},
		{name: "no mapping at all",
			needs: []Need{},
			want:  `Authentik reachable=PASS; Authentik token=PASS; Authentik version=PASS; Authentik permissions=PASS; Authentik groups=FAIL; Homeserver reachable=PASS; Bot identity=PASS`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ak, hs := healthy()
			if tt.setup != nil {
				tt.setup(ak, hs)
			}
			in := input(ak, hs, tt.needs...)
			if tt.needs != nil && len(tt.needs) == 0 {
				in.Rooms, in.Groups = nil, nil
			}
			r := Run(context.Background(), in)
			if got := outcomes(r); got != tt.want {
				t.Fatalf("outcomes:\n got %s\nwant %s\n%s", got, tt.want, r)
			}
			wantOK := !strings.Contains(tt.want, "FAIL") && !strings.Contains(tt.want, "SKIP")
			if r.OK() != wantOK {
				t.Errorf("OK() = %v, want %v", r.OK(), wantOK)
			}
			if tt.detail != "" && !strings.Contains(r.String(), tt.detail) {
				t.Errorf("report lacks %q:\n%s", tt.detail, r)
			}
			for _, res := range r.Results {
				if res.Outcome == Fail && res.Hint == "" {
					t.Errorf("%s fails without a hint", res.Check)
				}
			}
		})
	}
}

// TestAuthentikHintOnce: an error that carries its own fix shows it as the fix line only, and
// the detail is what failed without it.
func TestAuthentikHintOnce(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(*fakeAuthentik)
		check string
	}{
		{"token not received at the version", func(a *fakeAuthentik) {
			a.versionErr = hintedError{errNoHeader, "a proxy dropped the Authorization header; let it pass"}
		}, "Authentik token"},
		{"token not received at me", func(a *fakeAuthentik) {
			a.meErr = hintedError{errNoHeader, "a proxy dropped the Authorization header; let it pass"}
		}, "Authentik token"},
		{"no permission", func(a *fakeAuthentik) {
			a.groupsErr = hintedError{errNoPerm, "give the user authentik_core.view_group"}
		}, "Authentik permissions"},
		{"not the API", func(a *fakeAuthentik) {
			a.versionErr = hintedError{errHTML, "set AUTHENTIK_URL to Authentik's base address"}
		}, "Authentik reachable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ak, hs := healthy()
			tt.setup(ak)
			r := Run(context.Background(), input(ak, hs))
			for _, res := range r.Results {
				if res.Check != tt.check {
					continue
				}
				var h hintedError
				for _, err := range []error{ak.versionErr, ak.meErr, ak.groupsErr} {
					if errors.As(err, &h) {
						break
					}
				}
				if res.Outcome != Fail || res.Hint != h.hint || strings.Contains(res.Detail, h.hint) {
					t.Errorf("%s: %+v; want a failure whose fix is the error's hint, said once", res.Check, res)
				}
				return
			}
			t.Fatalf("no %s line:\n%s", tt.check, r)
		})
	}
}

// TestRefusedTokenFix: a plainly refused token gets the doctor's own fix, which names
// token_file, and the client's near-identical hint is not repeated in the detail.
func TestRefusedTokenFix(t *testing.T) {
	ak, hs := healthy()
	ak.meErr = hintedError{errBadToken, "check AUTHENTIK_TOKEN: create an API token"}
	for _, res := range Run(context.Background(), input(ak, hs)).Results {
		if res.Check == "Authentik token" && (res.Outcome != Fail || !strings.Contains(res.Hint, "authentik.token_file") ||
			strings.Contains(res.Detail, "check AUTHENTIK_TOKEN")) {
			t.Errorf("refused token: %+v", res)
		}
	}
}

func TestCreatorLevel(t *testing.T) {
	ak, hs := healthy()
	hs.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 1 << 62, Creator: true, Kick: 50, Ban: 50, PowerLevels: 100}
	if r := Run(context.Background(), input(ak, hs)); !strings.Contains(r.String(), "bot level unlimited (creator)") {
		t.Errorf("a creator's level:\n%s", r)
	}
	hs.rooms["#eng:hs"] = RoomPower{ID: "!eng:hs", Bot: 1 << 41, Kick: 50, Ban: 50, PowerLevels: 100}
	if r := Run(context.Background(), input(ak, hs)); !strings.Contains(r.String(), "bot level 2199023255552 ") {
		t.Errorf("a high level that is no creator's:\n%s", r)
	}
}

func TestReportLines(t *testing.T) {
	r := Report{Results: []Result{
		{Check: "Authentik reachable", Outcome: Pass, Detail: "ok"},
		{Check: "Room #eng:hs", Outcome: Fail, Detail: "bot level 0", Hint: "raise it"},
		{Check: "Bot identity", Outcome: Skipped, Detail: "not checked"},
	}}
	want := "PASS  Authentik reachable  ok\n" +
		"FAIL  Room #eng:hs         bot level 0\n" +
		"      fix: raise it\n" +
		"SKIP  Bot identity         not checked\n" +
		"2 of 3 checks did not pass."
	if got := r.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	ok := Report{Results: []Result{{Check: "a", Outcome: Pass}}}
	if !ok.OK() || ok.Summary() != "All 1 checks passed." {
		t.Errorf("passing report: OK %v, summary %q", ok.OK(), ok.Summary())
	}
	if (Report{}).OK() {
		t.Error("an empty report passes")
	}
}

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in   string
		want Release
		ok   bool
	}{
		{"2025.12.4", Release{2025, 12}, true},
		{"2024.2.0", Release{2024, 2}, true},
		{"2026.02.1-rc1", Release{2026, 2}, true},
		{"2025.8", Release{2025, 8}, true},
		{"2025", Release{}, false},
		{"main", Release{}, false},
		{"2025.13.0", Release{}, false},
		{"", Release{}, false},
	}
	for _, tt := range tests {
		got, err := ParseRelease(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRelease(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"authentik Admins", "backend", "engineering", "matrix-users"}
	tests := map[string]string{
		"Engineering":   "engineering",
		"enginering":    "engineering",
		"matrix_users":  "matrix-users",
		"backnd":        "backend",
		"finance":       "",
		"authentik":     "",
		"Authentik ADM": "authentik Admins",
	}
	for in, want := range tests {
		if got := Nearest(in, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", d)
	}
}
