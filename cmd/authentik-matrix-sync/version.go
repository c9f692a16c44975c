package main

// Set by the build (-ldflags "-X main.version=…").
var version = "dev"
