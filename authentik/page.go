package authentik

import (
	"encoding/json"
	"errors"
	"fmt"
)

// pagination is Authentik's own pagination object (not DRF's default next/previous URLs).
// Page numbers start at 1; next and previous are 0 when there is no such page (recorded: 10 and
// 11 are pages 1 and 2 of 2, 16 is the one page of an empty listing, count 0).
type pagination struct {
	Next       int `json:"next"`
	Previous   int `json:"previous"`
	Count      int `json:"count"`
	Current    int `json:"current"`
	TotalPages int `json:"total_pages"`
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

type page struct {
	Pagination pagination
	Results    []json.RawMessage
}

// decodePage checks one page on its own; whether pages fit together is the caller's business.
// Results are left raw so one decoder serves users and groups. Other top-level keys, such as the
// "autocomplete" schema that 2025.12 sends with every listing, are ignored.
func decodePage(body []byte) (page, error) {
	var raw struct {
		Pagination *pagination        `json:"pagination"`
		Results    *[]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return page{}, fmt.Errorf("decode page: %w", err)
	}
	if raw.Pagination == nil {
		return page{}, errors.New("decode page: no \"pagination\" object")
	}
	if raw.Results == nil || *raw.Results == nil {
		return page{}, errors.New("decode page: no \"results\" list")
	}
	p := page{Pagination: *raw.Pagination, Results: *raw.Results}
	if err := p.Pagination.check(len(p.Results)); err != nil {
		return page{}, fmt.Errorf("decode page: %w", err)
	}
	return p, nil
}

func (p pagination) check(results int) error {
	switch {
	case p.Current < 1:
		return fmt.Errorf("pagination.current is %d, want 1 or more", p.Current)
	case p.TotalPages < 1:
		return fmt.Errorf("pagination.total_pages is %d, want 1 or more", p.TotalPages)
	case p.Current > p.TotalPages:
		return fmt.Errorf("pagination.current %d is past total_pages %d", p.Current, p.TotalPages)
	case p.Count < 0:
		return fmt.Errorf("pagination.count is %d", p.Count)
	case results > p.Count:
		return fmt.Errorf("page holds %d results but pagination.count is %d", results, p.Count)
	case p.Next != 0 && p.Next <= p.Current:
		return fmt.Errorf("pagination.next %d does not move past current page %d", p.Next, p.Current)
	case p.Next > p.TotalPages:
		return fmt.Errorf("pagination.next %d is past total_pages %d", p.Next, p.TotalPages)
	case p.Next == 0 && p.Current != p.TotalPages:
		return fmt.Errorf("pagination.next is 0 on page %d of %d", p.Current, p.TotalPages)
	case p.Previous < 0 || p.Previous >= p.Current:
		return fmt.Errorf("pagination.previous %d is not before current page %d", p.Previous, p.Current)
	}
	return nil
}
