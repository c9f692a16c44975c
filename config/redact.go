package config

import (
	"regexp"
)

// quotedInYAMLError matches the fragments of the file that yaml.v3 quotes in its syntax errors
// (an anchor name, a token it could not read): `…` and '…'.
var quotedInYAMLError = regexp.MustCompile("`[^`]*`|'[^']*'")

// yamlSyntaxError hides the quoted fragments of a YAML syntax error. A file that does not parse
// may hold a token anywhere, and the error goes to the log; the line number that stays is what
// the operator needs.
type yamlSyntaxError struct{ err error }

func (e yamlSyntaxError) Error() string {
	return quotedInYAMLError.ReplaceAllString(e.err.Error(), "(…)")
}

func (e yamlSyntaxError) Unwrap() error { return e.err }
