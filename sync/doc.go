// Package sync holds the reconciler: it observes the desired membership (Authentik groups) and the
// actual membership (Matrix rooms), plans the actions that bring the rooms in step with the groups
// (Plan is pure: values in, values out), and applies them through small interfaces that main fills
// with the real Authentik client, Matrix client and store.
package sync
