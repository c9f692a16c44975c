package plan

// Provenance says, for a group with subgroups, through which subgroup each of its members is in
// it: Of(i) for Members[i]. It is kept small because a mapped group may have tens of thousands
// of members, all of them inherited: 2 bytes a member up to the last inherited one, and each
// subgroup's name once. The zero value, every member direct (as in a group without subgroups),
// holds and allocates nothing.
type Provenance struct {
	names []string // the subgroups, numbered from 1
	index []uint16 // by member: 0 for a direct member, else a number in names
	// number finds a name's number once there are too many names to look through.
	number map[string]uint16
}

// scanNames is how many names Set looks through before it keeps a map of them.
const scanNames = 16

// maxSubgroups is as many subgroups as an index can number; members through further ones are
// recorded as direct (a tree that wide is not one Authentik makes).
const maxSubgroups = 1<<16 - 1

// Set records that member i is in the group through subgroup via ("" for directly).
func (p *Provenance) Set(i int, via string) {
	if via == "" && i >= len(p.index) {
		return
	}
	n := 0
	switch {
	case via == "":
	case p.number != nil:
		n = int(p.number[via])
	default:
		for k, name := range p.names {
			if name == via {
				n = k + 1
				break
			}
		}
	}
	if n == 0 && via != "" {
		if len(p.names) == maxSubgroups {
			return
		}
		p.names = append(p.names, via)
		n = len(p.names)
		switch {
		case p.number != nil:
			p.number[via] = uint16(n)
		case n > scanNames:
			p.number = make(map[string]uint16, n)
			for k, name := range p.names {
				p.number[name] = uint16(k + 1)
			}
		}
	}
	for len(p.index) <= i {
		p.index = append(p.index, 0)
	}
	p.index[i] = uint16(n)
}

// Of returns the subgroup through which member i is in the group; "" for a direct member.
func (p Provenance) Of(i int) string {
	if i < 0 || i >= len(p.index) || p.index[i] == 0 {
		return ""
	}
	return p.names[p.index[i]-1]
}
