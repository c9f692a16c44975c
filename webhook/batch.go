package webhook

import "time"

// Batcher turns names of changed groups into triggers the way the webhook handler turns its calls
// into them (see debouncer: the first fires at once, later ones gather in a window): the SCIM
// receiver triggers cycles the same way.
type Batcher struct {
	d *debouncer
}

// NewBatcher returns a Batcher that calls fire with sorted group names, or nil when an Add named
// none (anything may have changed). A wait of zero or less fires every Add at once. A nil clock
// means real time.
func NewBatcher(clock Clock, wait time.Duration, fire func(groups []string)) *Batcher {
	if clock == nil {
		clock = realClock{}
	}
	return &Batcher{d: &debouncer{clock: clock, wait: wait, fire: fire}}
}

// Add records that groups changed; no groups means anything may have.
func (b *Batcher) Add(groups ...string) {
	var named []string
	for _, g := range groups {
		if g != "" {
			named = append(named, g)
		}
	}
	if len(named) == 0 {
		named = []string{""} // anything may have changed
	}
	// One call: the groups fire together, at once or when the window ends.
	b.d.addAll(named)
}

// Close drops what is waiting and ignores later calls.
func (b *Batcher) Close() { b.d.close() }
