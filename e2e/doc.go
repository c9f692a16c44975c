// Package e2e runs the real authentik-matrix-sync binary against a real Synapse (started by the
// harness package from the project's virtualenv) and the fake Authentik server, and asserts on the
// rooms as Synapse reports them, not on the bot's own view.
package e2e
