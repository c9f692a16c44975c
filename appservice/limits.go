package appservice

import "time"

// shutdownTimeout bounds how long the transactions listener waits for requests in progress when
// the program stops; with the reconciler's own grace it keeps the whole shutdown under the 10 s
// container runtimes allow before SIGKILL.
const shutdownTimeout = 5 * time.Second

// maxResponseBytes bounds every homeserver answer the clients read. The largest is a room's full
// state: a member event is about 0.5 KiB, so a room of 100,000 members (the size of the biggest
// public rooms) answers with about 50 MiB. 128 MiB leaves room for that and bounds the memory a
// misbehaving or hostile homeserver can make the bot allocate, where mautrix's default allows
// 512 MiB. Error answers have mautrix's own, much smaller, limit.
const maxResponseBytes = 128 << 20
