package authentik

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecodePage(t *testing.T) {
	const okPagination = `"pagination":{"next":2,"previous":0,"count":3,"current":1,"total_pages":2,"start_index":1,"end_index":2}`
	tests := []struct {
		name        string
		body        string
		wantResults int
		wantErr     string
	}{
		{name: "first page of two", body: `{` + okPagination + `,"results":[{"pk":1},{"pk":2}]}`, wantResults: 2},
		{name: "unknown top-level keys are ignored", body: `{"autocomplete":{},` + okPagination + `,"results":[{},{}]}`, wantResults: 2},
		{name: "empty listing", body: `{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1,"start_index":0,"end_index":0},"results":[]}`},
		{name: "missing results", body: `{` + okPagination + `}`, wantErr: `no "results"`},
		{name: "null results", body: `{` + okPagination + `,"results":null}`, wantErr: `no "results"`},
		{name: "missing pagination", body: `{"results":[]}`, wantErr: `no "pagination"`},
		{name: "DRF default pagination is not Authentik's", body: `{"count":1,"next":null,"previous":null,"results":[{}]}`, wantErr: `no "pagination"`},
		{name: "truncated JSON", body: `{` + okPagination + `,"results":[{"pk":1},{"pk"`, wantErr: "unexpected end"},
		{name: "not JSON", body: `<html>login</html>`, wantErr: "invalid character"},
		{name: "trailing garbage", body: `{` + okPagination + `,"results":[]} {}`, wantErr: "invalid character"},
		{name: "results not a list", body: `{` + okPagination + `,"results":{}}`, wantErr: "cannot unmarshal"},
		{name: "next points backwards", body: `{"pagination":{"next":1,"previous":1,"count":9,"current":2,"total_pages":3},"results":[]}`, wantErr: "does not move past"},
		{name: "next stays on the page", body: `{"pagination":{"next":2,"previous":1,"count":9,"current":2,"total_pages":3},"results":[]}`, wantErr: "does not move past"},
		{name: "next past total_pages", body: `{"pagination":{"next":4,"previous":2,"count":9,"current":3,"total_pages":3},"results":[]}`, wantErr: "past total_pages"},
		{name: "no next before the last page", body: `{"pagination":{"next":0,"previous":0,"count":9,"current":1,"total_pages":3},"results":[]}`, wantErr: "next is 0 on page 1 of 3"},
		{name: "page zero", body: `{"pagination":{"next":0,"previous":0,"count":0,"current":0,"total_pages":1},"results":[]}`, wantErr: "current is 0"},
		{name: "more results than count", body: `{"pagination":{"next":0,"previous":0,"count":1,"current":1,"total_pages":1},"results":[{},{}]}`, wantErr: "2 results but pagination.count is 1"},
		{name: "count as string", body: `{"pagination":{"next":0,"previous":0,"count":"1","current":1,"total_pages":1},"results":[{}]}`, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodePage([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodePage error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodePage: %v", err)
			}
			if len(p.Results) != tt.wantResults {
				t.Fatalf("got %d results, want %d", len(p.Results), tt.wantResults)
			}
		})
	}
}

// FuzzDecodePage checks that whatever a server sends, the decoder either refuses it or hands
// on a page the listing loop can trust.
func FuzzDecodePage(f *testing.F) {
	f.Add([]byte(`{"pagination":{"next":0,"previous":1,"count":3,"current":2,"total_pages":2},"results":[{"pk":3}]}`))
	f.Add([]byte(`{"pagination":{},"results":[]}`))
	recorded, err := filepath.Glob("testdata/recorded/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range recorded {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePage(body)
		if err != nil {
			if p.Results != nil {
				t.Fatalf("error %v came with results", err)
			}
			return
		}
		pg := p.Pagination
		if p.Results == nil {
			t.Fatal("accepted a page without results")
		}
		if pg.Current < 1 || pg.Current > pg.TotalPages {
			t.Fatalf("accepted current %d of %d pages", pg.Current, pg.TotalPages)
		}
		if pg.Next != 0 && (pg.Next <= pg.Current || pg.Next > pg.TotalPages) {
			t.Fatalf("accepted next %d from page %d of %d", pg.Next, pg.Current, pg.TotalPages)
		}
		if pg.Next == 0 && pg.Current != pg.TotalPages {
			t.Fatalf("accepted an early end on page %d of %d", pg.Current, pg.TotalPages)
		}
		if len(p.Results) > pg.Count {
			t.Fatalf("accepted %d results with count %d", len(p.Results), pg.Count)
		}
		for i, r := range p.Results {
			if !json.Valid(r) {
				t.Fatalf("result %d is not valid JSON: %q", i, r)
			}
		}
	})
}

func TestNewBaseURL(t *testing.T) {
	tests := []struct {
		base    string
		want    string
		wantErr string
	}{
		{base: "https://auth.example.com", want: "https://auth.example.com/api/v3/"},
		{base: "https://auth.example.com/", want: "https://auth.example.com/api/v3/"},
		{base: "https://auth.example.com//", want: "https://auth.example.com/api/v3/"},
		{base: "http://127.0.0.1:9000", want: "http://127.0.0.1:9000/api/v3/"},
		{base: "https://example.com/authentik/", want: "https://example.com/authentik/api/v3/"},
		{base: "https://auth.example.com/api/v3", want: "https://auth.example.com/api/v3/"},
		{base: "https://auth.example.com/api/v3/", want: "https://auth.example.com/api/v3/"},
		{base: " https://auth.example.com ", want: "https://auth.example.com/api/v3/"},
		{base: "", wantErr: "needs http:// or https://"},
		{base: "auth.example.com", wantErr: "needs http:// or https://"},
		{base: "ftp://auth.example.com", wantErr: "needs http:// or https://"},
		{base: "https://auth.example.com/?x=1", wantErr: "query or fragment"},
		{base: "https://admin:hunter2@auth.example.com", wantErr: "user name or password"},
		{base: "https://auth.example.com/%zz", wantErr: "is not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c, err := New(tt.base, "tok", Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%q) error = %v, want it to contain %q", tt.base, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q): %v", tt.base, err)
			}
			if got := c.api.String(); got != tt.want {
				t.Fatalf("API URL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	const secret = "s3cr3t token\n"
	tests := []struct {
		name    string
		token   string
		opts    Options
		wantErr string
		check   func(*Client) bool
	}{
		{name: "defaults", token: "t", check: func(c *Client) bool {
			return c.pageSize == 100 && c.timeout == 30*time.Second && c.maxBody == 32<<20 && c.http != nil
		}},
		{name: "own values kept", token: "t", opts: Options{PageSize: 7, Timeout: time.Second, MaxBodyBytes: 10, HTTPClient: http.DefaultClient},
			check: func(c *Client) bool {
				return c.pageSize == 7 && c.timeout == time.Second && c.maxBody == 10 && c.http == http.DefaultClient
			}},
		{name: "empty token", token: " ", wantErr: "AUTHENTIK_TOKEN"},
		{name: "token with newline", token: secret, wantErr: "stray newline"},
		{name: "negative page size", token: "t", opts: Options{PageSize: -1}, wantErr: "page size -1"},
		{name: "negative timeout", token: "t", opts: Options{Timeout: -time.Second}, wantErr: "timeout -1s"},
		{name: "negative body limit", token: "t", opts: Options{MaxBodyBytes: -1}, wantErr: "max body size -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New("https://auth.example.com", tt.token, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected settings: %+v", *c)
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		name, body, wantDetail, wantCode string
	}{
		{name: "detail and code", body: `{"detail":"Token invalid/expired","code":"authentication_failed"}`,
			wantDetail: "Token invalid/expired", wantCode: "authentication_failed"},
		{name: "validation errors", body: `{"page_size":["A valid integer is required."],"groups_by_pk":["Select a valid choice."]}`,
			wantDetail: "groups_by_pk: Select a valid choice.; page_size: A valid integer is required."},
		{name: "HTML from a proxy", body: "<html>\n  <body>502 Bad Gateway</body>\n</html>",
			wantDetail: "<html> <body>502 Bad Gateway</body> </html>"},
		{name: "HTML page with a title", body: "\n\n<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"UTF-8\">\n<title>\nauthentik\n</title>",
			wantDetail: `an HTML page titled "authentik"`},
		{name: "nginx error page", body: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>…</body></html>",
			wantDetail: `an HTML page titled "502 Bad Gateway"`},
		{name: "entities in the title", body: "<html><title>Sign in &amp; continue</title></html>",
			wantDetail: `an HTML page titled "Sign in & continue"`},
		{name: "an empty title", body: "<html><title> </title></html>", wantDetail: "<html><title> </title></html>"},
		{name: "long body is cut", body: strings.Repeat("é", 400), wantDetail: strings.Repeat("é", 150) + "…"},
		{name: "empty body", body: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, c := parseErrorBody([]byte(tt.body))
			if d != tt.wantDetail || c != tt.wantCode {
				t.Fatalf("got (%q, %q), want (%q, %q)", d, c, tt.wantDetail, tt.wantCode)
			}
		})
	}
}

// TestKindOf covers the answers the recordings do not hold (those are in contract_test.go):
// proxies, other APIs at a wrong address, and Authentik's answers in other forms.
func TestKindOf(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"a proxy asking for its own login", 401, "<html>401 Authorization Required</html>", ErrTokenRejected},
		{"Authentik's bad token as a 401", 401, `{"detail":"Token invalid/expired"}`, ErrTokenRejected},
		{"a proxy or firewall refusing", 403, "<html>403 Forbidden</html>", nil},
		{"a 403 with another detail", 403, `{"detail":"CSRF Failed: CSRF token missing."}`, nil},
		{"DRF's generic 404 from another API", 404, `{"detail":"Not found."}`, ErrNotAuthentikAPI},
		{"a JSON 404 without detail", 404, `{"message":"no route"}`, ErrNotAuthentikAPI},
		{"an empty 404", 404, "", ErrNotAuthentikAPI},
		{"a 404 naming another object", 404, `{"detail":"No Token matches the given query."}`, ErrNotFound},
		{"detail-like text in a 500", 500, `{"detail":"No Group matches the given query."}`, nil},
		{"a validation error", 400, `{"groups_by_pk":["Select a valid choice."]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kindOf(tt.status, []byte(tt.body)); got != tt.want {
				t.Fatalf("kindOf(%d, %q) = %v, want %v", tt.status, tt.body, got, tt.want)
			}
		})
	}
	hints := []struct {
		e    APIError
		want string
	}{
		{APIError{Status: 403}, hintForbidden},
		{APIError{Status: 401, Detail: "<html>401 Authorization Required</html>", Kind: ErrTokenRejected}, hintProxyLogin},
		{APIError{Status: 401, Detail: detailBadToken, Kind: ErrTokenRejected}, hintTokenRejected},
	}
	for _, h := range hints {
		if got := h.e.hint(); got != h.want {
			t.Errorf("%+v has hint %q, want %q", h.e, got, h.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"30", 30 * time.Second},
		{" 5 ", 5 * time.Second},
		{"", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
