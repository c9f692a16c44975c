package main

import (
	"testing"
	"time"
)

func TestOracleJudgesRemovals(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const grace, slack = 30 * time.Second, 2 * time.Second
	every5s := func(from, to int) []time.Time { // the bot's reads of the group
		var out []time.Time
		for s := from; s <= to; s += 5 {
			out = append(out, at(s))
		}
		return out
	}
	tests := []struct {
		name    string
		history func(o *oracle)
		reads   []time.Time
		removal int // seconds after t0
		want    bool
	}{
		{"never in the group", func(o *oracle) {}, every5s(0, 100), 100, false},
		{"still in the group", func(o *oracle) { o.Add("g", "u", at(0)) }, every5s(0, 100), 100, false},
		{"out past the grace period", func(o *oracle) { o.Add("g", "u", at(0)); o.Remove("g", "u", at(8)) }, every5s(0, 100), 46, true},
		{"removed before the grace period ended", func(o *oracle) { o.Add("g", "u", at(0)); o.Remove("g", "u", at(8)) }, every5s(0, 100), 36, false},
		{"back before the deadline, and read back", func(o *oracle) {
			o.Add("g", "u", at(0))
			o.Remove("g", "u", at(8))
			o.Add("g", "u", at(30))
		}, every5s(0, 100), 46, false},
		{"back after the last read before the removal", func(o *oracle) {
			o.Add("g", "u", at(0))
			o.Remove("g", "u", at(8))
			o.Add("g", "u", at(46))
		}, every5s(0, 100), 47, true},
		{"a blip between two reads is invisible", func(o *oracle) {
			o.Add("g", "u", at(0))
			o.Remove("g", "u", at(8))
			o.Add("g", "u", at(21))
			o.Remove("g", "u", at(23))
		}, every5s(0, 100), 46, true},
		{"the same blip, read while back", func(o *oracle) {
			o.Add("g", "u", at(0))
			o.Remove("g", "u", at(8))
			o.Add("g", "u", at(19))
			o.Remove("g", "u", at(23))
		}, every5s(0, 100), 46, false},
		{"no read during the outage: the last reads count", func(o *oracle) {
			o.Add("g", "u", at(0))
			o.Remove("g", "u", at(8))
		}, append(every5s(0, 10), at(60)), 61, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOracle(grace, slack)
			tt.history(o)
			if got := o.Justified("g", "u", at(tt.removal), tt.reads); got != tt.want {
				t.Errorf("Justified at +%ds = %v, want %v", tt.removal, got, tt.want)
			}
		})
	}
}

func TestOracleDueAndMembers(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	o := newOracle(30*time.Second, 10*time.Second)
	for _, u := range []string{"a", "b", "c", "d"} {
		o.Add("g", u, t0)
	}
	o.Remove("g", "a", t0.Add(time.Second))
	o.Remove("g", "b", t0.Add(50*time.Second))
	o.Remove("g", "c", t0.Add(time.Second))
	o.Add("g", "c", t0.Add(5*time.Second))
	due := o.Due(t0.Add(60*time.Second), 20*time.Second)
	if len(due) != 1 || due[0] != (memberKey{"g", "a"}) {
		t.Errorf("due = %v, want only a (b left too recently, c came back)", due)
	}
	if got := o.Members("g"); len(got) != 2 || got[0] != "c" || got[1] != "d" {
		t.Errorf("members = %v, want [c d]", got)
	}
}
