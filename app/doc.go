// Package app is the program behind the command line: it loads the configuration, builds the
// parts (the Authentik or SCIM directory, the Matrix client, the store, the reconciler, the admin
// room, the webhook and SCIM receivers, the listeners) and runs them for their lifetime (RunBot:
// one errgroup, a shutdown budget), or runs one of the other commands (PrintPlan, RunDoctor,
// Healthcheck, BackupNow, Restore, MigrateStore, GenerateRegistration). Package main only parses
// the command line and calls it.
package app
