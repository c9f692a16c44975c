package webhook

import (
	"reflect"
	"strings"
	"testing"
)

// defaultBody is what Authentik's webhook transport sends without a body mapping when a group's
// members change through the API: the event summary, a Python repr of the context, as "body".
const defaultBody = `{"body": "model_updated: {'model': {'app': 'authentik_core', 'model_name': 'group', ` +
	`'pk': '8c6f2b7e1d2a4b5c9e0f112233445566', 'name': 'matrix-admins'}, 'http_request': {'args': {}, ` +
	`'path': '/api/v3/core/groups/8c6f2b7e-1d2a-4b5c-9e0f-112233445566/add_user/', 'method': 'POST', ` +
	`'request_id': 'b0c1', 'user_agent': 'python-requests/2.32'}}", "severity": "notice", ` +
	`"user_email": "root@example.org", "user_username": "akadmin", "event_user_email": "root@example.org", ` +
	`"event_user_username": "akadmin"}`

func TestParseBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Change
	}{
		{"empty", ``, Change{}},
		{"plain text", `something changed`, Change{}},
		{"malformed JSON", `{"model": {"app": "authentik_core"`, Change{}},
		{"JSON without a known key", `{"severity": "notice"}`, Change{}},
		{"documented mapping, group", `{"action": "model_updated", "model": {"app": "authentik_core", "model_name": "group", "pk": "8c6f", "name": "staff"}}`,
			Change{Action: "model_updated", Model: ModelGroup, Name: "staff", Group: "staff"}},
		{"documented mapping, user", `{"action": "model_updated", "model": {"app": "authentik_core", "model_name": "user", "pk": 7, "name": "Alice A"}}`,
			Change{Action: "model_updated", Model: ModelUser, Name: "Alice A"}},
		{"documented mapping, no event", `{"action": null, "model": null}`, Change{}},
		{"hand-made call", `{"group": "staff"}`, Change{Model: ModelGroup, Name: "staff", Group: "staff"}},
		{"default body, group", defaultBody, Change{Action: "model_updated", Model: ModelGroup, Name: "matrix-admins", Group: "matrix-admins"}},
		{"default body, user", `{"body": "model_updated: {'model': {'app': 'authentik_core', 'model_name': 'user', 'pk': 7, 'name': 'Alice A'}}"}`,
			Change{Action: "model_updated", Model: ModelUser, Name: "Alice A"}},
		{"default body, name with a quote", `{"body": "model_created: {'model': {'app': 'authentik_core', 'model_name': 'group', 'pk': 'aa', 'name': \"O'Brien's team\"}}"}`,
			Change{Action: "model_created", Model: ModelGroup, Name: "O'Brien's team", Group: "O'Brien's team"}},
		{"default body, escapes", `{"body": "model_deleted: {'model': {'app': 'authentik_core', 'model_name': 'group', 'pk': 'aa', 'name': 'caf\\xe9 \\u2603 \\\\ \\'q\\''}}"}`,
			Change{Action: "model_deleted", Model: ModelGroup, Name: "café ☃ \\ 'q'", Group: "café ☃ \\ 'q'"}},
		{"default body, message instead of context", `{"body": "Task finished successfully"}`, Change{}},
		{"default body, login", `{"body": "login: {'auth_method': 'password', 'auth_method_args': {}, 'http_request': {'args': {'next': ['/']}}, 'geo': None, 'asn': None, 'flag': True, 'n': 1.5}"}`,
			Change{Action: "login"}},
		{"default body, truncated context", `{"body": "model_updated: {'model': {'app': 'authentik_core', 'model_name': 'group', 'name': 'sta"}`,
			Change{Action: "model_updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseBody([]byte(tt.body)); got != tt.want {
				t.Errorf("ParseBody = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParsePython(t *testing.T) {
	tests := []struct {
		in      string
		want    any
		wantErr bool
	}{
		{`{}`, map[string]any{}, false},
		{`{'a': [1, 'b', None, True, False, (2, 3)], "c": {'d': ''}}`,
			map[string]any{"a": []any{"1", "b", nil, true, false, []any{"2", "3"}}, "c": map[string]any{"d": ""}}, false},
		{`{'trailing': 'comma',}`, map[string]any{"trailing": "comma"}, false},
		{`{'a': 1} tail`, nil, true},
		{`{'a' 1}`, nil, true},
		{`{'a': 'unterminated}`, nil, true},
		{`{'a': '\x4'}`, nil, true},
		{strings.Repeat("[", maxPythonDepth+2) + strings.Repeat("]", maxPythonDepth+2), nil, true},
	}
	for _, tt := range tests {
		got, err := parsePython(tt.in)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePython(%q) = %#v, %v; want %#v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
