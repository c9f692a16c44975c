package scim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// scimType values of RFC 7644 §3.12.
const (
	typeInvalidFilter = "invalidFilter"
	typeUniqueness    = "uniqueness"
	typeMutability    = "mutability"
	typeInvalidSyntax = "invalidSyntax"
	typeInvalidPath   = "invalidPath"
	typeNoTarget      = "noTarget"
	typeInvalidValue  = "invalidValue"
)

// Error is a SCIM error answer (RFC 7644 §3.12). Everything the handler refuses is one, so that
// the client always gets the error JSON it can log, and never a partial write.
type Error struct {
	Status int
	// Type is the scimType, for 400 and 409 answers; empty otherwise.
	Type   string
	Detail string
}

func (e *Error) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("SCIM %d %s: %s", e.Status, e.Type, e.Detail)
	}
	return fmt.Sprintf("SCIM %d: %s", e.Status, e.Detail)
}

func badRequest(scimType, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: scimType, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Type: typeUniqueness, Detail: fmt.Sprintf(format, args...)}
}

// errorBody is the wire form; status is a string there (RFC 7644 §3.12).
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail"`
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, errorBody{Schemas: []string{SchemaError}, Status: strconv.Itoa(e.Status), ScimType: e.Type, Detail: e.Detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the package's own plain structs are marshalled; this cannot happen.
		status, body = http.StatusInternalServerError, []byte(`{"schemas":["`+SchemaError+`"],"status":"500","detail":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
