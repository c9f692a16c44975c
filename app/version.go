package app

// Version is the build's version, set by the build (-ldflags "-X authentik-matrix-sync/app.Version=…").
var Version = "dev"
