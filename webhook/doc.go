// Package webhook receives Authentik's notification webhooks: it checks the shared secret,
// reads which group (if any) the event names, and triggers the reconciler: at once for the first
// call after a quiet spell, then once a short window for the calls that follow. A call is only ever a hint that something changed; the reconciler reads the
// membership itself.
package webhook
