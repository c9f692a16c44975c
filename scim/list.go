package scim

import (
	"net/http"
	"strconv"
	"strings"
)

// listPage is what a GET of a collection asked for (RFC 7644 §3.4.2): one filter comparison, a
// 1-based start index, a count, and the attributes to leave out.
type listPage struct {
	filter     *comparison
	startIndex int
	count      int
	excluded   map[string]bool
}

func parseListQuery(r *http.Request) (listPage, *Error) {
	q := r.URL.Query()
	p := listPage{startIndex: 1, count: defaultListCount, excluded: map[string]bool{}}
	if f := strings.TrimSpace(q.Get("filter")); f != "" {
		c, ok := parseComparison(f)
		if !ok {
			return listPage{}, badRequest(typeInvalidFilter, "filter %q is not one this receiver understands; use attribute eq \"value\"", f)
		}
		p.filter = &c
	}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return listPage{}, badRequest(typeInvalidValue, "startIndex %q is not a whole number", v)
		}
		p.startIndex = max(n, 1) // RFC 7644 §3.4.2.4: less than 1 means 1
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return listPage{}, badRequest(typeInvalidValue, "count %q is not a whole number", v)
		}
		p.count = min(max(n, 0), maxListCount)
	}
	for _, a := range strings.Split(q.Get("excludedAttributes"), ",") {
		if a = strings.ToLower(stripCoreURN(strings.TrimSpace(a))); a != "" {
			p.excluded[a] = true
		}
	}
	return p, nil
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
