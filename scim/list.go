package scim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// listPage is what a query of a collection asked for (RFC 7644 §3.4.2), by GET or by POST to
// .search: a filter, a 1-based start index, a count, and the attributes to return.
type listPage struct {
	filter     filter
	startIndex int
	count      int
	shape      shape
}

// listRequest is a query's parameters as text, from a URL or a SearchRequest body.
type listRequest struct {
	filter                         string
	startIndex, count              string
	attributes, excludedAttributes []string
}

// parseListQuery reads a GET's query parameters; known are the attributes the filter may name.
func parseListQuery(r *http.Request, known ...map[string]bool) (listPage, *Error) {
	q := r.URL.Query()
	return listRequest{filter: q.Get("filter"), startIndex: q.Get("startIndex"), count: q.Get("count"),
		attributes: q["attributes"], excludedAttributes: q["excludedAttributes"]}.parse(known...)
}

// SchemaSearchRequest is the message of POST …/.search (RFC 7644 §3.4.3).
const SchemaSearchRequest = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

// parseSearchBody reads a SearchRequest. startIndex and count are numbers there, attributes
// lists; a client sending them as strings (or one comma-separated string) is understood too.
func parseSearchBody(body []byte, known ...map[string]bool) (listPage, *Error) {
	var w struct {
		Schemas            []string        `json:"schemas"`
		Filter             string          `json:"filter"`
		StartIndex         json.RawMessage `json:"startIndex"`
		Count              json.RawMessage `json:"count"`
		Attributes         flexList        `json:"attributes"`
		ExcludedAttributes flexList        `json:"excludedAttributes"`
	}
	if e := decodeStrict(body, &w); e != nil {
		return listPage{}, e
	}
	if len(w.Schemas) > 0 && !containsFold(w.Schemas, SchemaSearchRequest) {
		return listPage{}, badRequest(typeInvalidSyntax, "schemas %q does not include %s; send it, or leave schemas out", w.Schemas, SchemaSearchRequest)
	}
	number := func(raw json.RawMessage) string { return strings.Trim(string(raw), `"`) }
	return listRequest{filter: w.Filter, startIndex: number(w.StartIndex), count: number(w.Count),
		attributes: w.Attributes, excludedAttributes: w.ExcludedAttributes}.parse(known...)
}

// flexList is a list of strings, or one string.
type flexList []string

func (l *flexList) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		*l = list
		return nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err != nil {
		return err
	}
	*l = []string{one}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func (lr listRequest) parse(known ...map[string]bool) (listPage, *Error) {
	p := listPage{startIndex: 1, count: defaultListCount}
	if f := strings.TrimSpace(lr.filter); f != "" {
		parsed, err := parseFilter(f)
		if err == nil {
			err = checkFilterNames(parsed, known...)
		}
		if err != nil {
			return listPage{}, badRequest(typeInvalidFilter, "filter %q: %v (RFC 7644 §3.4.2.2, for example userName eq \"alice\")", f, err)
		}
		p.filter = parsed
	}
	if v := lr.startIndex; v != "" && v != "null" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return listPage{}, badRequest(typeInvalidValue, "startIndex %q is not a whole number", v)
		}
		p.startIndex = max(n, 1) // RFC 7644 §3.4.2.4: less than 1 means 1
	}
	if v := lr.count; v != "" && v != "null" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return listPage{}, badRequest(typeInvalidValue, "count %q is not a whole number", v)
		}
		p.count = min(max(n, 0), maxListCount)
	}
	s, e := parseShape(lr.attributes, lr.excludedAttributes)
	if e != nil {
		return listPage{}, e
	}
	p.shape = s
	return p, nil
}

// matches applies the page's filter; no filter matches everything.
func (p listPage) matches(r record) bool { return p.filter == nil || p.filter.match(r) }

// exactUserName is the userName of a filter `userName eq "…"`, the lookup Authentik makes
// after a 409 and adopts the first result of.
func (p listPage) exactUserName() (string, bool) {
	c, ok := p.filter.(compare)
	if !ok || c.op != "eq" || c.path.attr != "username" || c.path.sub != "" || c.path.elems != nil {
		return "", false
	}
	s, ok := c.value.(string)
	return s, ok
}

// window returns the indexes of the page among total sorted results.
func (p listPage) window(total int) []int {
	var out []int
	for i := p.startIndex - 1; i < total && len(out) < p.count; i++ {
		out = append(out, i)
	}
	return out
}

func (p listPage) response(total int, resources []any) listResponse {
	return listResponse{Schemas: []string{SchemaListResponse}, TotalResults: total, ItemsPerPage: len(resources),
		StartIndex: p.startIndex, Resources: resources}
}
