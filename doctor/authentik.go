package doctor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Authentik is what the checks read from Authentik. Errors carry the client's own explanation
// (wrong token, no permission, wrong URL): Explain classifies them, SplitHint takes out the fix
// they end with, so that a failed line says it once.
type Authentik interface {
	// Version is /api/v3/admin/version/'s version_current; any authenticated token may read it.
	Version(ctx context.Context) (string, error)
	// Me is the username of the token's user.
	Me(ctx context.Context) (string, error)
	// CanListUsers reads one page of the user listing.
	CanListUsers(ctx context.Context) error
	// GroupNames lists every group's name; it also proves that the token may list groups.
	GroupNames(ctx context.Context) ([]string, error)
	// Explain classifies an error of the methods above.
	Explain(err error) Problem
	// SplitHint parts an error of the methods above into what failed and the client's own hint
	// for fixing it; hint is "" when the error carries none.
	SplitHint(err error) (detail, hint string)
}

// Problem is what an Authentik error means for the operator.
type Problem int

const (
	ProblemOther        Problem = iota
	ProblemUnreachable          // no HTTP answer at all
	ProblemNotAPI               // an answer, but not from Authentik's API (wrong URL, login page)
	ProblemToken                // the token is wrong, expired or revoked
	ProblemTokenNotSent         // the token did not reach Authentik: a proxy dropped it or wants its own login
	ProblemPermission           // the token's user may not do this
)

// Supported Authentik releases. The oldest is the first whose API has everything the client
// reads (include_users on groups, groups_by_pk on users); the newest is the newest the shapes
// were checked against. A newer release passes with a note: Authentik keeps API v3 compatible.
var (
	OldestSupported = Release{2024, 2}
	NewestTested    = Release{2026, 8}
)

// Release is an Authentik release line, year.month.
type Release struct{ Year, Month int }

func (r Release) String() string { return fmt.Sprintf("%d.%d", r.Year, r.Month) }

func (r Release) before(o Release) bool {
	return r.Year < o.Year || r.Year == o.Year && r.Month < o.Month
}

// ParseRelease reads the release line of a version such as "2025.12.4" or "2026.2.0-rc1".
func ParseRelease(v string) (Release, error) {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) < 2 {
		return Release{}, fmt.Errorf("version %q is not of the form YEAR.MONTH.PATCH", v)
	}
	year, err1 := strconv.Atoi(parts[0])
	month, err2 := strconv.Atoi(strings.TrimLeft(leadingDigits(parts[1]), "0"))
	if err1 != nil || err2 != nil || year < 2000 || month < 1 || month > 12 {
		return Release{}, fmt.Errorf("version %q is not of the form YEAR.MONTH.PATCH", v)
	}
	return Release{year, month}, nil
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}

func checkAuthentik(ctx context.Context, in Input) []Result {
	ak := in.Authentik
	var out []Result
	version, verr := ak.Version(ctx)
	problem := ProblemOther
	if verr != nil {
		problem = ak.Explain(verr)
	}

	// Reachable: any answer from Authentik's API counts, a refused token included.
	switch problem {
	case ProblemUnreachable:
		out = append(out, failure(ak, "Authentik reachable", verr,
			"check AUTHENTIK_URL ("+in.AuthentikURL+") and that this machine can reach it (DNS, firewall, TLS)"))
		return append(out, skipped("Authentik token", "Authentik version", "Authentik permissions", "Authentik groups")...)
	case ProblemNotAPI:
		out = append(out, failure(ak, "Authentik reachable", verr,
			"AUTHENTIK_URL must be Authentik's base address (https://auth.example.com), not a path below it or a proxy's login page"))
		return append(out, skipped("Authentik token", "Authentik version", "Authentik permissions", "Authentik groups")...)
	}
	out = append(out, Result{Check: "Authentik reachable", Outcome: Pass, Detail: in.AuthentikURL + " answers as Authentik's API"})

	// Token: the version endpoint takes any valid token, so a refusal there is the token's fault
	// as much as one of the token's user.
	me, err := "", verr
	if !isTokenProblem(problem) {
		me, err = ak.Me(ctx)
	}
	switch {
	case err != nil && isTokenProblem(ak.Explain(err)):
		const newToken = "create an API token (intent API) in Authentik's admin interface under Directory > Tokens and App passwords and set AUTHENTIK_TOKEN or authentik.token_file"
		r := failure(ak, "Authentik token", err, newToken)
		if ak.Explain(err) == ProblemToken {
			// The client's hint says the same, but cannot know of token_file.
			r.Hint = newToken
		}
		out = append(out, r)
		return append(out, skipped("Authentik version", "Authentik permissions", "Authentik groups")...)
	case err != nil:
		out = append(out, failure(ak, "Authentik token", err, "the token's user could not be read; check Authentik's logs"))
	default:
		out = append(out, Result{Check: "Authentik token", Outcome: Pass, Detail: "valid, belongs to user " + me})
	}

	out = append(out, checkVersion(ak, version, verr))
	perms, names := checkPermissions(ctx, ak)
	out = append(out, perms)
	if perms.Outcome != Pass {
		return append(out, skipped("Authentik groups")...)
	}
	return append(out, checkGroups(names, in.Groups)...)
}

func isTokenProblem(p Problem) bool { return p == ProblemToken || p == ProblemTokenNotSent }

// failure is a failed line for err. Its fix is the hint the error ends with, when it has one,
// as that one knows what went wrong best (a proxy that dropped the header, say); else fallback.
func failure(ak Authentik, check string, err error, fallback string) Result {
	detail, hint := ak.SplitHint(err)
	if hint == "" {
		hint = fallback
	}
	return Result{Check: check, Outcome: Fail, Detail: detail, Hint: hint}
}

func checkVersion(ak Authentik, version string, err error) Result {
	r := Result{Check: "Authentik version"}
	if err != nil {
		return failure(ak, r.Check, err, "the version could not be read from /api/v3/admin/version/; check Authentik's logs")
	}
	rel, perr := ParseRelease(version)
	switch {
	case perr != nil:
		r.Outcome, r.Detail = Fail, perr.Error()
		r.Hint = "Authentik reported a version this tool cannot read; report it with the version string"
	case rel.before(OldestSupported):
		r.Outcome = Fail
		r.Detail = fmt.Sprintf("%s is older than the oldest supported release, %s", version, OldestSupported)
		r.Hint = fmt.Sprintf("upgrade Authentik to %s or later", OldestSupported)
	case NewestTested.before(rel):
		r.Outcome = Pass
		r.Detail = fmt.Sprintf("%s (newer than %s, the newest release checked; API v3 is kept compatible)", version, NewestTested)
	default:
		r.Outcome = Pass
		r.Detail = fmt.Sprintf("%s (supported: %s or later)", version, OldestSupported)
	}
	return r
}

// checkPermissions lists users (one page) and groups (all of them, which checkGroups then
// looks the mapped groups up in, so that the listing is read once a run).
func checkPermissions(ctx context.Context, ak Authentik) (Result, []string) {
	const check = "Authentik permissions"
	var names []string
	listGroups := func(ctx context.Context) (err error) {
		names, err = ak.GroupNames(ctx)
		return err
	}
	var denied []string
	hint := "give the token's user the permissions \"Can view User\" and \"Can view Group\" (authentik_core.view_user, authentik_core.view_group) through a role, or use a token of an admin or service account"
	for _, c := range []struct {
		what string
		list func(context.Context) error
	}{{"users", ak.CanListUsers}, {"groups", listGroups}} {
		err := c.list(ctx)
		switch {
		case err == nil:
		case ak.Explain(err) == ProblemPermission:
			denied = append(denied, c.what)
			if _, h := ak.SplitHint(err); h != "" {
				hint = h
			}
		default:
			return failure(ak, check, err, "listing "+c.what+" failed; check Authentik's logs"), nil
		}
	}
	if len(denied) > 0 {
		return Result{Check: check, Outcome: Fail, Detail: "the token's user may not list " + strings.Join(denied, " or "), Hint: hint}, nil
	}
	return Result{Check: check, Outcome: Pass, Detail: "may list users and groups"}, names
}

// checkGroups looks each mapped group up among the names Authentik listed.
func checkGroups(names, groups []string) []Result {
	if len(groups) == 0 {
		return []Result{{Check: "Authentik groups", Outcome: Fail, Detail: "no mapping is configured",
			Hint: "add at least one entry to sync.mappings (or SYNC_MAPPINGS)"}}
	}
	var out []Result
	for _, g := range groups {
		r := Result{Check: fmt.Sprintf("Authentik group %q", g)}
		if slices.Contains(names, g) {
			r.Outcome, r.Detail = Pass, "exists"
		} else {
			r.Outcome, r.Detail = Fail, "not found"
			r.Hint = "group names are case-sensitive; fix the mapping's group or create the group in Authentik"
			if near := Nearest(g, names); near != "" {
				r.Hint = fmt.Sprintf("did you mean %q? ", near) + r.Hint
			}
		}
		out = append(out, r)
	}
	return out
}

func skipped(checks ...string) []Result {
	out := make([]Result, len(checks))
	for i, c := range checks {
		out[i] = Result{Check: c, Outcome: Skipped, Detail: "not checked: an earlier check failed"}
	}
	return out
}

// Nearest returns the candidate closest to name: the same but for case, or one within a few
// edits (a third of name's length, at least 2). "" when none is close.
func Nearest(name string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(2, len([]rune(name))/3)
	for _, c := range candidates {
		if strings.EqualFold(c, name) {
			return c
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
