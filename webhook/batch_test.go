package webhook

import (
	"slices"
	"testing"
)

// A Batcher fires the first Add at once, with all the groups it named, and gathers later Adds
// into its window; it widens to "everything" when an Add names none, fires every Add at once
// without a window, and drops what waits when closed.
func TestBatcher(t *testing.T) {
	clock, tr := &fakeClock{}, &triggers{}
	b := NewBatcher(clock, DefaultDebounce, tr.record)
	b.Add("staff", "admins")
	b.Add("admins", "") // an empty name is no name
	if got, want := tr.all(), []string{"admins,staff"}; !slices.Equal(got, want) {
		t.Fatalf("at once fired %q, want %q", got, want)
	}
	clock.fire() // the window: what opened it and what it gathered
	clock.fire() // the gathered calls checked again
	if got, want := tr.all(), []string{"admins,staff", "admins,staff", "admins"}; !slices.Equal(got, want) {
		t.Fatalf("after the windows fired %q, want %q", got, want)
	}
	if clock.pending() != 0 {
		t.Fatal("a window is still open after a quiet one")
	}
	b.Add()
	b.Add("guests")
	clock.fire()
	clock.fire()
	if got, want := tr.all(), []string{"admins,staff", "admins,staff", "admins", "*", "*", "guests"}; !slices.Equal(got, want) {
		t.Errorf("fired %q, want %q", got, want)
	}

	now := &triggers{}
	NewBatcher(nil, 0, now.record).Add("staff", "admins")
	if got := now.all(); !slices.Equal(got, []string{"admins,staff"}) {
		t.Errorf("without a window fired %q, want [admins,staff]", got)
	}

	b.Close()
	b.Add("late")
	clock.fire()
	if got := tr.all(); len(got) != 6 {
		t.Errorf("a closed batcher fired: %q", got)
	}
}
