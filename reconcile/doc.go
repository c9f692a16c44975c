// Package reconcile is the reconciler's runtime. It observes the desired membership (the
// directory's groups) and the actual one (Matrix rooms) through small interfaces that main fills
// with the real clients and store, plans with package plan (pure: values in, values out), and
// applies the plan: store bookkeeping, then unbans, additions, removals and account actions,
// with backups, back-off, scoped triggers and shutdown handling.
package reconcile
