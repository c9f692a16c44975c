// Package config holds the program's settings: the Config struct, loading it from a YAML file and
// from the environment variables of the original Compose setup (which override the file, field by
// field), merging an appservice registration into it, and validating it with messages that name
// each setting, its YAML key and its environment variable.
package config
