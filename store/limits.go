package store

import "time"

// clientToolTimeout bounds one pg_dump or pg_restore run. The bot's schema holds a few rows per
// room member, so a dump takes seconds even for large deployments; ten minutes only stops a tool
// that hangs (a locked table, a server that stopped answering) from holding the cycle's removals,
// or a shutdown, forever.
const clientToolTimeout = 10 * time.Minute

// clientToolWaitDelay is how long a cancelled pg_dump's output pipes may stay open after it was
// killed (a child process still holding them) before they are closed and the run returns.
const clientToolWaitDelay = 2 * time.Second
