// Package docs holds the Markdown documentation (README.md is its front page). It has no code: its
// tests check that every link in README.md and docs/ leads somewhere, that the README stays one
// screen long, and that every example configuration in them loads.
package docs
