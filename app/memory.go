package app

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target unless the operator sets GOGC: the heap may
// grow by half of what is live before a collection, where Go's default lets it double. A cycle
// of a large installation holds tens of megabytes at once (groups, rooms, stored state, the
// plan); at 50,000 users and 500 rooms this keeps the process under 100 MB where the default
// took it past 110 MB, for a few more collections during a cycle that waits on the network most
// of its time.
const defaultGCPercent = 50

// TuneGC sets the collector's target to defaultGCPercent unless GOGC says otherwise. GOMEMLIMIT
// works as Go documents it, on top of this.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}
