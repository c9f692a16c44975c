// Package webhook receives Authentik's notification webhooks: it checks the shared secret,
// reads which group (if any) the event names, and debounces bursts of calls into one trigger
// of the reconciler. A call is only ever a hint that something changed; the reconciler reads the
// membership itself.
package webhook
