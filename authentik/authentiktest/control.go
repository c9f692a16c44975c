package authentiktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Seed is a whole directory in one JSON document, for cmd/fake-authentik and tests:
//
//	{"users":[{"username":"alice","active":true,"attributes":{}}],
//	 "groups":[{"name":"staff","parent":"","members":["alice"]}]}
type Seed struct {
	Users  []SeedUser  `json:"users"`
	Groups []SeedGroup `json:"groups"`
}

// SeedUser is one user of a Seed; Active defaults to true.
type SeedUser struct {
	Username   string         `json:"username"`
	Active     *bool          `json:"active,omitempty"`
	Name       string         `json:"name,omitempty"`
	Email      string         `json:"email,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// SeedGroup is one group of a Seed; Parent may name a group listed later.
type SeedGroup struct {
	Name        string         `json:"name"`
	Parent      string         `json:"parent,omitempty"`
	Members     []string       `json:"members,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	IsSuperuser bool           `json:"is_superuser,omitempty"`
}

func (g SeedGroup) options() []GroupOption {
	return []GroupOption{WithGroupAttributes(g.Attributes), WithGroupSuperuser(g.IsSuperuser)}
}

func (u SeedUser) options() []UserOption {
	opts := []UserOption{WithAttributes(u.Attributes)}
	if u.Active != nil {
		opts = append(opts, WithActive(*u.Active))
	}
	if u.Name != "" {
		opts = append(opts, WithName(u.Name))
	}
	if u.Email != "" {
		opts = append(opts, WithEmail(u.Email))
	}
	return opts
}

// Load adds everything in seed to the directory.
func (s *Server) Load(seed Seed) error {
	for _, u := range seed.Users {
		if _, err := s.addUser(u.Username, u.options()...); err != nil {
			return fmt.Errorf("seed user %q: %w", u.Username, err)
		}
	}
	// Parents first, in as many rounds as the tree is deep, so the file may list groups in any order.
	pending := seed.Groups
	for len(pending) > 0 {
		var later []SeedGroup
		for _, g := range pending {
			if _, known := s.Group(g.Parent); g.Parent != "" && !known {
				if !seedHas(seed.Groups, g.Parent) {
					return fmt.Errorf("seed group %q: parent group %q is not in the seed", g.Name, g.Parent)
				}
				later = append(later, g)
				continue
			}
			if _, err := s.addGroup(g.Name, g.Parent, g.options()...); err != nil {
				return fmt.Errorf("seed group %q: %w", g.Name, err)
			}
			if err := s.changeMembers(g.Name, g.Members, nil); err != nil {
				return fmt.Errorf("seed group %q: %w", g.Name, err)
			}
		}
		if len(later) == len(pending) {
			return fmt.Errorf("seed groups %q: their parents form a loop", later[0].Name)
		}
		pending = later
	}
	return nil
}

func seedHas(groups []SeedGroup, name string) bool {
	for _, g := range groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

// faultJSON is Fault as the control API takes it, with the delay written like "1.5s".
type faultJSON struct {
	PathPrefix string            `json:"path_prefix"`
	Query      string            `json:"query_contains"`
	Page       int               `json:"page"`
	Skip       int               `json:"skip"`
	Times      int               `json:"times"`
	Status     int               `json:"status"`
	Body       string            `json:"body"`
	Header     map[string]string `json:"header"`
	Delay      string            `json:"delay"`
	Truncate   bool              `json:"truncate"`
	Drop       bool              `json:"drop"`
}

// controlMux serves /_fake/. It takes no token on purpose: it is how a test outside the
// process drives the fake, and the fake is never to be exposed beyond the test machine.
func (s *Server) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_fake/users", func(w http.ResponseWriter, r *http.Request) {
		var in SeedUser
		if !decodeControl(w, r, &in) {
			return
		}
		u, err := s.addUser(in.Username, in.options()...)
		answerControl(w, http.StatusCreated, u, err)
	})
	mux.HandleFunc("POST /_fake/groups", func(w http.ResponseWriter, r *http.Request) {
		var in SeedGroup
		if !decodeControl(w, r, &in) {
			return
		}
		g, err := s.addGroup(in.Name, in.Parent, in.options()...)
		if err == nil && len(in.Members) > 0 {
			err = s.changeMembers(in.Name, in.Members, nil)
		}
		answerControl(w, http.StatusCreated, g, err)
	})
	mux.HandleFunc("POST /_fake/groups/{name}/members", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Add    []string `json:"add"`
			Remove []string `json:"remove"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		answerControl(w, http.StatusOK, nil, s.changeMembers(r.PathValue("name"), in.Add, in.Remove))
	})
	mux.HandleFunc("POST /_fake/groups/{name}/parents", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Parents []string `json:"parents"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		answerControl(w, http.StatusOK, nil, s.setParents(r.PathValue("name"), in.Parents))
	})
	mux.HandleFunc("DELETE /_fake/groups/{name}", func(w http.ResponseWriter, r *http.Request) {
		answerControl(w, http.StatusOK, nil, s.deleteGroup(r.PathValue("name")))
	})
	mux.HandleFunc("POST /_fake/users/{username}/active", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Active *bool `json:"active"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		if in.Active == nil {
			answerControl(w, 0, nil, errors.New(`body needs {"active": true|false}`))
			return
		}
		answerControl(w, http.StatusOK, nil, s.setActive(r.PathValue("username"), *in.Active))
	})
	mux.HandleFunc("POST /_fake/users/{username}/rename", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Username string `json:"username"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		answerControl(w, http.StatusOK, nil, s.renameUser(r.PathValue("username"), in.Username))
	})
	mux.HandleFunc("POST /_fake/shape", func(w http.ResponseWriter, r *http.Request) {
		// {"version": "2025.10"} picks a release; {"legacy": true} is the older switch.
		var in struct {
			Legacy  bool   `json:"legacy"`
			Version string `json:"version"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		switch {
		case in.Version != "" && in.Legacy:
			answerControl(w, 0, nil, errors.New(`give "version" or "legacy", not both`))
		case in.Version != "":
			answerControl(w, http.StatusOK, nil, s.setVersion(in.Version))
		default:
			s.SetLegacyShape(in.Legacy)
			answerControl(w, http.StatusOK, nil, nil)
		}
	})
	mux.HandleFunc("POST /_fake/tokens", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Token    string `json:"token"`
			Username string `json:"username"`
		}
		if !decodeControl(w, r, &in) {
			return
		}
		if in.Token == "" {
			answerControl(w, 0, nil, errors.New(`body needs {"token": "...", "username": "..."}`))
			return
		}
		s.AddUnprivilegedToken(in.Token)
		if in.Username != "" {
			s.SetTokenUser(in.Token, in.Username)
		}
		answerControl(w, http.StatusCreated, nil, nil)
	})
	mux.HandleFunc("POST /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		var in faultJSON
		if !decodeControl(w, r, &in) {
			return
		}
		f := Fault{PathPrefix: in.PathPrefix, QueryContains: in.Query, Page: in.Page, Skip: in.Skip, Times: in.Times, Status: in.Status,
			Body: in.Body, Header: in.Header, Truncate: in.Truncate, Drop: in.Drop}
		if in.Delay != "" {
			d, err := time.ParseDuration(in.Delay)
			if err != nil {
				answerControl(w, 0, nil, fmt.Errorf("delay %q: %w", in.Delay, err))
				return
			}
			f.Delay = d
		}
		s.InjectFault(f)
		answerControl(w, http.StatusCreated, nil, nil)
	})
	mux.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		answerControl(w, http.StatusOK, nil, nil)
	})
	mux.HandleFunc("GET /_fake/requests", func(w http.ResponseWriter, r *http.Request) {
		reqs := s.Requests()
		if reqs == nil {
			reqs = []string{}
		}
		writeJSON(w, http.StatusOK, reqs)
	})
	mux.HandleFunc("DELETE /_fake/requests", func(w http.ResponseWriter, r *http.Request) {
		s.ClearRequests()
		answerControl(w, http.StatusOK, nil, nil)
	})
	return mux
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields() // a typo in a test script should fail loudly, not be ignored
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func answerControl(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		status = http.StatusBadRequest
		if errors.Is(err, errNotExist) {
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	if v == nil {
		v = map[string]bool{"ok": true}
	}
	writeJSON(w, status, v)
}
