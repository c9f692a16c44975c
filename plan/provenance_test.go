package plan

import (
	"fmt"
	"testing"
	"unsafe"
)

func TestProvenance(t *testing.T) {
	var p Provenance
	p.Set(0, "")
	p.Set(5, "") // direct members cost nothing, wherever they are
	if p.index != nil || p.names != nil {
		t.Fatalf("direct members allocated: %+v", p)
	}
	p.Set(2, "backend")
	p.Set(4, "frontend")
	p.Set(7, "backend")
	p.Set(4, "") // set back to direct
	want := []string{"", "", "backend", "", "", "", "", "backend", ""}
	for i, w := range want {
		if got := p.Of(i); got != w {
			t.Errorf("Of(%d) = %q, want %q", i, got, w)
		}
	}
	if p.Of(-1) != "" || len(p.names) != 2 || len(p.index) != 8 {
		t.Errorf("names %q, index %v", p.names, p.index)
	}
	// Past scanNames subgroups the numbers come from a map, with the same answers.
	var wide Provenance
	for i := range 3 * scanNames {
		wide.Set(i, fmt.Sprintf("team-%02d", i%(2*scanNames)))
	}
	for i := range 3 * scanNames {
		if got, want := wide.Of(i), fmt.Sprintf("team-%02d", i%(2*scanNames)); got != want {
			t.Errorf("wide: Of(%d) = %q, want %q", i, got, want)
		}
	}
	if len(wide.names) != 2*scanNames || wide.number == nil {
		t.Errorf("wide: %d names, map %v", len(wide.names), wide.number != nil)
	}
	if size := unsafe.Sizeof(p.index[0]); size != 2 {
		t.Errorf("an index entry takes %d bytes, want 2", size)
	}
}
