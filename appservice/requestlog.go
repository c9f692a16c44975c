package appservice

import "github.com/rs/zerolog"

// WithoutClientRequestLines is a zerolog hook that drops the line the mautrix client writes when a
// request ends ("Request completed", "Request failed", …). The homeserver's HTTP client logs every
// request once already (metrics.Transport, with the endpoint instead of the URL, whose query may
// carry user IDs, and the time taken in seconds); a failed request reaches the log anyway through
// the error its caller logs. The client's retry warnings stay.
//
// Hook it to the root logger: the client writes through the caller's context logger when there is
// one, so a hook on Options.Log alone would miss the cycles' requests.
type WithoutClientRequestLines struct{}

var _ zerolog.Hook = WithoutClientRequestLines{}

// Run discards the event when it is the client's end-of-request line.
func (WithoutClientRequestLines) Run(e *zerolog.Event, _ zerolog.Level, msg string) {
	switch msg {
	case "Request completed", "Request failed", "Request canceled", "Request parsing failed":
		e.Discard()
	}
}
