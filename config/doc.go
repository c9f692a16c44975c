// Package config holds the program's settings: the Config struct, loading it from a YAML file and
// from the environment (which overrides the file, field by field), merging an appservice
// registration into it, and validating it with messages that name each setting, its YAML key and
// its environment variable. Every key has a variable named after its path (AMS_ and the path in
// capitals, see envpath.go); the variables with names of their own (the original Compose setup's,
// and the documented ones) are listed in one table, envAliases, with the key each sets.
package config
