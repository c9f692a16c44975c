package docs

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"

	"authentik-matrix-sync/config"
)

// repoRoot is where README.md lives; the tests run in docs/.
const repoRoot = ".."

// maxReadmeLines keeps the README to what a newcomer reads on one screen; the rest belongs in docs/.
const maxReadmeLines = 150

// completeMarker, on the line before a ```yaml block, says the block is a whole config.yaml that
// must load as it stands. Other blocks that hold a bot config are loaded on top of baseConfig.
const completeMarker = "<!-- config: complete -->"

// markdownFiles lists README.md and every Markdown file under docs/, as paths from the repo root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, path.Join("docs", filepath.ToSlash(p)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestReadmeFitsOnOneScreen(t *testing.T) {
	doc := mustParse(t, "README.md")
	if n := len(doc.lines); n >= maxReadmeLines {
		t.Errorf("README.md has %d lines; keep it under %d and move the detail into docs/ (linked from docs/README.md)", n, maxReadmeLines)
	}
}

// TestEveryDocIsIndexed keeps docs/README.md the one list of pages: a page it does not link is a
// page nobody finds.
func TestEveryDocIsIndexed(t *testing.T) {
	index := mustParse(t, "docs/README.md")
	linked := map[string]bool{}
	for _, l := range index.links {
		if u, err := url.Parse(l.target); err == nil && u.Scheme == "" && u.Path != "" {
			linked[path.Join("docs", u.Path)] = true
		}
	}
	for _, f := range markdownFiles(t) {
		if strings.HasPrefix(f, "docs/") && f != "docs/README.md" && !linked[f] {
			t.Errorf("%s is not linked from docs/README.md; add it to the index", f)
		}
	}
}

func TestLinks(t *testing.T) {
	docs := map[string]*markdown{}
	anchorsOf := func(file string) (map[string]bool, error) {
		if d, ok := docs[file]; ok {
			return d.anchors, nil
		}
		d, err := parseFile(file)
		if err != nil {
			return nil, err
		}
		docs[file] = d
		return d.anchors, nil
	}
	checked := 0
	for _, file := range markdownFiles(t) {
		d := mustParse(t, file)
		docs[file] = d
		for _, l := range d.links {
			checked++
			if err := checkLink(file, l.target, anchorsOf); err != nil {
				t.Errorf("%s:%d: link %q: %v", file, l.line, l.target, err)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d links found in README.md and docs/; the link parser is broken", checked)
	}
}

// checkLink says what is wrong with a link from file (a path from the repo root), or nil.
func checkLink(file, target string, anchorsOf func(string) (map[string]bool, error)) error {
	if strings.ContainsAny(target, " \t\n") {
		return fmt.Errorf("contains white space")
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	switch u.Scheme {
	case "":
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("no host")
		}
		return nil // not fetched: the tests run without a network
	case "mailto":
		return nil
	default:
		return fmt.Errorf("scheme %q; use http(s) or a relative link", u.Scheme)
	}
	if u.Host != "" || strings.HasPrefix(u.Path, "/") {
		return fmt.Errorf("absolute path; use a path relative to %s", file)
	}
	to := file
	if u.Path != "" {
		to = path.Join(path.Dir(file), u.Path)
		if to == ".." || strings.HasPrefix(to, "../") {
			return fmt.Errorf("leads out of the repository")
		}
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(to))); err != nil {
			return fmt.Errorf("%s does not exist", to)
		}
	}
	if u.Fragment == "" || !strings.HasSuffix(to, ".md") {
		return nil // a fragment of another kind of file (#L10) is GitHub's business
	}
	anchors, err := anchorsOf(to)
	if err != nil {
		return err
	}
	if !anchors[u.Fragment] {
		return fmt.Errorf("%s has no heading with the anchor #%s (anchors are lower case, spaces become -, punctuation is dropped)", to, u.Fragment)
	}
	return nil
}

func TestGitHubAnchors(t *testing.T) {
	for heading, want := range map[string]string{
		"Event-driven sync (Authentik webhooks)":    "event-driven-sync-authentik-webhooks",
		"Spaces, power levels and identity mapping": "spaces-power-levels-and-identity-mapping",
		"`protected_users`":                         "protected_users",
		"Static analysis and known vulnerabilities": "static-analysis-and-known-vulnerabilities",
		"Why `!sync why`?":                          "why-sync-why",
		"[Linked](other.md) *heading*":              "linked-heading",
	} {
		if got := githubAnchor(heading); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", heading, got, want)
		}
	}
	d := parseText("a.md", "# A\n## A\n```\n# not a heading\n```\n<a id=\"custom\"></a>\n")
	for _, a := range []string{"a", "a-1", "custom"} {
		if !d.anchors[a] {
			t.Errorf("anchors %v lack %s", d.anchors, a)
		}
	}
	if d.anchors["not-a-heading"] {
		t.Error("a heading inside a code block gave an anchor")
	}
}

func TestLinkParsing(t *testing.T) {
	d := parseText("a.md", "See [one](x.md#a) and [a link\nover two lines](y.md).\n"+
		"`[not](code.md)` ![image](pic.png) <https://example.com>\n\n"+
		"```\n[not](fenced.md)\n```\n[ref]: z.md\n<a href=\"w.md\">w</a>\n")
	var got []string
	for _, l := range d.links {
		got = append(got, fmt.Sprintf("%d:%s", l.line, l.target))
	}
	want := []string{"1:x.md#a", "2:y.md", "3:pic.png", "3:https://example.com", "8:z.md", "9:w.md"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("links %v, want %v", got, want)
	}
}

// markdown is what the tests need of one file.
type markdown struct {
	lines   []string
	links   []link
	anchors map[string]bool
	yaml    []codeBlock
}

type link struct {
	line   int
	target string
}

// codeBlock is a fenced ```yaml block.
type codeBlock struct {
	line   int    // of the opening fence
	marker string // the line before the fence, trimmed
	text   string
}

func mustParse(t *testing.T, file string) *markdown {
	t.Helper()
	d, err := parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parseFile(file string) (*markdown, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
	if err != nil {
		return nil, err
	}
	return parseText(file, string(data)), nil
}

var (
	headingRe    = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$`)
	fenceRe      = regexp.MustCompile("^ {0,3}(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")
	refDefRe     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)`)
	inlineRe     = regexp.MustCompile(`\]\(\s*<?([^()\s<>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	autolinkRe   = regexp.MustCompile(`<((?:https?|mailto):[^>\s]+)>`)
	htmlLinkRe   = regexp.MustCompile(`\b(?:href|src)\s*=\s*"([^"]+)"`)
	htmlAnchorRe = regexp.MustCompile(`<a\s+(?:id|name)\s*=\s*"([^"]+)"`)
)

// parseText finds the headings, links and yaml blocks of a Markdown text. Links are looked for a
// paragraph at a time (link text may wrap), outside code blocks and code spans.
func parseText(file, text string) *markdown {
	d := &markdown{lines: strings.Split(strings.TrimSuffix(text, "\n"), "\n"), anchors: map[string]bool{}}
	seen := map[string]int{}
	addAnchor := func(a string) {
		if n := seen[a]; n > 0 {
			d.anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			d.anchors[a] = true
		}
		seen[a]++
	}
	var para []string
	paraStart := 0
	flush := func() {
		if len(para) > 0 {
			d.links = append(d.links, paragraphLinks(strings.Join(para, "\n"), paraStart)...)
			para = nil
		}
	}
	fence, lang, blockStart := "", "", 0
	var block []string
	for i, line := range d.lines {
		n := i + 1
		if fence != "" {
			if strings.HasPrefix(strings.TrimSpace(line), fence) && strings.Trim(strings.TrimSpace(line), fence[:1]) == "" {
				if lang == "yaml" || lang == "yml" {
					marker := ""
					for j := blockStart - 2; j >= 0; j-- {
						if s := strings.TrimSpace(d.lines[j]); s != "" {
							marker = s
							break
						}
					}
					d.yaml = append(d.yaml, codeBlock{line: blockStart, marker: marker, text: strings.Join(block, "\n")})
				}
				fence = ""
			} else {
				block = append(block, line)
			}
			continue
		}
		if m := fenceRe.FindStringSubmatch(line); m != nil {
			flush()
			fence, lang, blockStart, block = m[1], strings.ToLower(m[2]), n, nil
			continue
		}
		if m := headingRe.FindStringSubmatch(line); m != nil {
			flush()
			addAnchor(githubAnchor(m[2]))
			d.links = append(d.links, paragraphLinks(line, n)...)
			continue
		}
		for _, m := range htmlAnchorRe.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		if m := refDefRe.FindStringSubmatch(line); m != nil {
			d.links = append(d.links, link{line: n, target: m[1]})
			continue
		}
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if len(para) == 0 {
			paraStart = n
		}
		para = append(para, line)
	}
	flush()
	return d
}

// paragraphLinks finds the link targets in text, which starts at line first.
func paragraphLinks(text string, first int) []link {
	text = blankCodeSpans(text)
	var links []link
	for _, re := range []*regexp.Regexp{inlineRe, autolinkRe, htmlLinkRe} {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			links = append(links, link{line: first + strings.Count(text[:m[0]], "\n"), target: text[m[2]:m[3]]})
		}
	}
	return links
}

// blankCodeSpans replaces the inside of every `code span` with x, keeping line breaks, so that
// nothing in code counts as a link.
func blankCodeSpans(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == '`' {
			n++
		}
		closing := strings.Index(string(b[i+n:]), strings.Repeat("`", n))
		if closing < 0 {
			i += n
			continue
		}
		for j := i + n; j < i+n+closing; j++ {
			if b[j] != '\n' {
				b[j] = 'x'
			}
		}
		i += 2*n + closing
	}
	return string(b)
}

var (
	mdLinkTextRe = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTagRe    = regexp.MustCompile(`<[^>]+>`)
)

// githubAnchor is the anchor GitHub gives a heading: its text as rendered (links become their
// text, markup goes), lower case, spaces to hyphens, other punctuation dropped.
func githubAnchor(heading string) string {
	heading = mdLinkTextRe.ReplaceAllString(heading, "$1")
	heading = htmlTagRe.ReplaceAllString(heading, "")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// baseConfig fills in what a partial example leaves out, so that it loads: the required
// settings of client mode, or of appservice mode when the example sets appservice keys.
const baseConfig = `
homeserver:
    address: https://matrix.example.com
matrix:
    user_id: "@authentik-sync:example.com"
    access_token: syt_example_matrix_token
authentik:
    url: https://auth.example.com
    token: example-authentik-token
sync:
    mappings:
        - group: staff
          room: "!staff:example.com"
`

// TestExampleConfigsLoad loads every bot configuration shown in a ```yaml block of README.md and
// docs/: a block marked complete as it stands, any other block whose top-level keys are
// config.yaml's merged over baseConfig. Files the example names (a *_file secret, the appservice
// registration) are stood in for by temporary files, since their paths exist only on the
// operator's machine.
func TestExampleConfigsLoad(t *testing.T) {
	topLevel := map[string]bool{}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		if name, _, _ := strings.Cut(ct.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			topLevel[name] = true
		}
	}
	loaded := 0
	for _, file := range markdownFiles(t) {
		d := mustParse(t, file)
		for _, block := range d.yaml {
			where := fmt.Sprintf("%s:%d", file, block.line)
			var parsed any
			if err := yaml.Unmarshal([]byte(block.text), &parsed); err != nil {
				t.Errorf("%s: the yaml block is not valid YAML: %v", where, err)
				continue
			}
			doc, _ := parsed.(map[string]any) // a list or a scalar is no config.yaml
			complete := block.marker == completeMarker
			isConfig := complete
			for key := range doc {
				isConfig = isConfig || topLevel[key]
			}
			if !isConfig {
				continue // a Synapse, Compose or Prometheus file
			}
			loaded++
			if err := loadExample(t, doc, complete); err != nil {
				note := ""
				if !complete {
					note = " (its line numbers are of the example merged onto baseConfig)"
				}
				t.Errorf("%s: this config example does not load%s: %v", where, note, err)
			}
		}
	}
	if loaded < 3 {
		t.Errorf("only %d config examples found in README.md and docs/; the block finder is broken", loaded)
	}
}

func loadExample(t *testing.T, doc map[string]any, complete bool) error {
	if !complete {
		var base map[string]any
		if err := yaml.Unmarshal([]byte(baseConfig), &base); err != nil {
			t.Fatal(err)
		}
		if as, ok := doc["appservice"].(map[string]any); ok && (as["registration"] != nil || as["as_token"] != nil) {
			// Appservice mode: the bot's ID comes from the registration, not an access token.
			delete(base, "matrix")
			base["homeserver"].(map[string]any)["domain"] = "example.com"
		}
		doc = merge(base, doc)
	}
	dir := t.TempDir()
	standIns(t, dir, doc)
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		return err
	}
	if len(c.Warnings) > 0 {
		return fmt.Errorf("it loads with warnings: %s", strings.Join(c.Warnings, "; "))
	}
	return nil
}

// merge lays over on top of base, section by section; lists and values in over replace base's,
// and a secret file in over (token_file) replaces base's secret (token).
func merge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		if _, ok := over[k+"_file"]; !ok {
			out[k] = v
		}
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = merge(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// standIns points every *_file key and the registration at temporary files with usable content.
func standIns(t *testing.T, dir string, doc map[string]any) {
	for key, v := range doc {
		switch v := v.(type) {
		case map[string]any:
			standIns(t, dir, v)
		case string:
			var content string
			switch {
			case key == "registration":
				content = "as_token: example-as-token-0123456789\nhs_token: example-hs-token-0123456789\n"
			case strings.HasSuffix(key, "_file"):
				content = "example-secret-0123456789abcdef0123456789\n"
			default:
				continue
			}
			p := filepath.Join(dir, key)
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			doc[key] = p
		}
	}
}
