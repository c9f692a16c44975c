package scim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/rs/zerolog"
)

// basePath is where the receiver answers. In Authentik, the provider's URL is
// http(s)://<bot>/scim/v2; it appends /Users, /Groups and /ServiceProviderConfig itself.
const basePath = "/scim/v2"

// BasePath is the prefix of every path the Handler serves, for mounting it on a mux.
const BasePath = basePath + "/"

// Options configure a Handler.
type Options struct {
	// Token is the bearer token Authentik's SCIM provider sends; it must not be empty.
	Token string
	// Resources holds the state the handler reads and writes.
	Resources *Resources
	// OnChange is told, after a write, the displayNames of the groups whose members may have
	// changed: the groups written, and the groups that list a written user or group as a direct
	// member. The trigger adds the groups above them. Nil tells nobody.
	OnChange func(groups []string)
	// MaxBody is the largest request body read; zero means 8 MiB.
	MaxBody int64
	// NewID makes the id of a created resource; nil makes random UUIDs.
	NewID   func() string
	Log     zerolog.Logger
	Metrics *Metrics
}

// Handler serves the SCIM endpoints under BasePath.
type Handler struct {
	opts     Options
	wantHash [sha256.Size]byte
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler. An empty token is refused: the endpoint writes the desired membership.
func New(opts Options) (*Handler, error) {
	if opts.Token == "" {
		return nil, errors.New("the SCIM endpoint needs a bearer token (scim.token / SCIM_TOKEN)")
	}
	if opts.Resources == nil {
		return nil, errors.New("the SCIM endpoint needs its Resources")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = defaultMaxBodyBytes
	}
	if opts.NewID == nil {
		opts.NewID = newUUID
	}
	if opts.OnChange == nil {
		opts.OnChange = func([]string) {}
	}
	return &Handler{opts: opts, wantHash: sha256.Sum256([]byte(opts.Token))}, nil
}

// request is one call being answered.
type request struct {
	w        http.ResponseWriter
	r        *http.Request
	resource string
	status   int
	refusal  *Error
}

func (q *request) fail(e *Error) {
	q.status, q.refusal = e.Status, e
	if e.Status == http.StatusUnauthorized {
		q.w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
	}
	writeError(q.w, e)
}

func (q *request) answer(status int, v any) {
	q.status = status
	writeJSON(q.w, status, v)
}

func (q *request) noContent() {
	q.status = http.StatusNoContent
	q.w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, resource: "other"}
	defer func() {
		h.opts.Metrics.count(q.resource, r.Method, q.status)
		h.logRefusal(q)
	}()
	rest, ok := strings.CutPrefix(r.URL.Path, basePath)
	if !ok || (rest != "" && rest[0] != '/') {
		q.fail(notFound("%s is not a SCIM endpoint; the base URL is %s", r.URL.Path, basePath))
		return
	}
	if !h.authorized(r) {
		h.opts.Log.Debug().Str("remote", r.RemoteAddr).Bool("header_present", r.Header.Get("Authorization") != "").
			Msg("SCIM request refused: bearer token missing or wrong")
		q.fail(&Error{Status: http.StatusUnauthorized, Detail: "a valid bearer token is required (Authorization: Bearer <scim.token>)"})
		return
	}
	segments := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segments) > 2 || segments[0] == "" {
		q.fail(notFound("no SCIM endpoint at %s", r.URL.Path))
		return
	}
	id := ""
	if len(segments) == 2 {
		id = segments[1]
	}
	q.resource = segments[0]
	switch segments[0] {
	case searchSegment:
		q.resource = "search"
		if id != "" {
			q.fail(notFound("no SCIM endpoint at %s", r.URL.Path))
			return
		}
		h.search(q, true, true)
	case "Users":
		h.users(q, id)
	case "Groups":
		h.groups(q, id)
	case "ServiceProviderConfig":
		switch {
		case id != "":
			q.fail(notFound("no SCIM endpoint at %s", r.URL.Path))
		case allow(q, http.MethodGet):
			q.answer(http.StatusOK, serviceProviderConfig(h.opts.MaxBody))
		}
	case "ResourceTypes":
		if allow(q, http.MethodGet) {
			h.resourceTypes(q, id)
		}
	case "Schemas":
		if allow(q, http.MethodGet) {
			h.schemas(q, id)
		}
	default:
		q.resource = "other"
		q.fail(notFound("no SCIM endpoint at %s; this receiver serves Users, Groups, .search, ServiceProviderConfig, ResourceTypes and Schemas", r.URL.Path))
	}
}

// logRefusal logs a refused request: what the client sent wrong (it also got the detail), or
// what failed here. A 404 is Authentik's way to learn that it must create a resource again, and a
// 401 is logged where it is decided, so both stay at debug level.
func (h *Handler) logRefusal(q *request) {
	e := q.refusal
	if e == nil || e.Status == http.StatusUnauthorized {
		return
	}
	ev := h.opts.Log.Debug()
	switch {
	case e.Status >= 500:
		ev = h.opts.Log.Error()
	case e.Status != http.StatusNotFound && e.Status != http.StatusMethodNotAllowed:
		ev = h.opts.Log.Warn()
	}
	ev.Str("method", q.r.Method).Str("path", q.r.URL.Path).Int("status", e.Status).Str("scim_type", e.Type).
		Str("detail", e.Detail).Msg("SCIM request refused; nothing was changed")
}

// allow answers 405 unless the method is one of methods.
func allow(q *request, methods ...string) bool {
	if slices.Contains(methods, q.r.Method) {
		return true
	}
	q.w.Header().Set("Allow", strings.Join(methods, ", "))
	q.fail(&Error{Status: http.StatusMethodNotAllowed, Detail: fmt.Sprintf("%s is not allowed on %s; use %s", q.r.Method, q.r.URL.Path, strings.Join(methods, " or "))})
	return false
}

// authorized compares the bearer token in constant time; hashing both sides first makes the time
// independent of the length of what the caller sent too.
func (h *Handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], h.wantHash[:]) == 1
}

// body reads a request body: JSON (application/scim+json or application/json; no content type
// is taken as JSON too), at most MaxBody bytes.
func (h *Handler) body(q *request) ([]byte, bool) {
	if ct := q.r.Header.Get("Content-Type"); ct != "" {
		media, _, err := mime.ParseMediaType(ct)
		if err != nil || (media != mediaType && media != "application/json") {
			q.fail(&Error{Status: http.StatusUnsupportedMediaType, Detail: fmt.Sprintf("content type %q is not JSON; send %s", ct, mediaType)})
			return nil, false
		}
	}
	if q.r.ContentLength > h.opts.MaxBody {
		q.fail(tooLarge(h.opts.MaxBody))
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, h.opts.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		q.fail(tooLarge(h.opts.MaxBody))
		return nil, false
	case err != nil:
		q.fail(badRequest(typeInvalidSyntax, "the body could not be read: %v", err))
		return nil, false
	case len(strings.TrimSpace(string(data))) == 0:
		q.fail(badRequest(typeInvalidSyntax, "the body is empty; send a JSON object"))
		return nil, false
	}
	return data, true
}

func tooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the body is larger than %d bytes", limit)}
}

// changed tells OnChange about groups, once each, if there are any.
func (h *Handler) changed(groups []string) {
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if len(groups) > 0 {
		h.opts.OnChange(groups)
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24 and later)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// resourceOps are what one resource type does for each method.
type resourceOps struct {
	list, create func(q *request)
	get, remove  func(q *request, id string)
	write        func(q *request, id string) // PUT and PATCH
}

// route dispatches a request for a resource collection (id "") or one resource by method; a
// method the endpoint does not take is answered by allow.
func route(q *request, id string, ops resourceOps) {
	if id == "" {
		switch {
		case !allow(q, http.MethodGet, http.MethodPost):
		case q.r.Method == http.MethodGet:
			ops.list(q)
		default:
			ops.create(q)
		}
		return
	}
	switch {
	case !allow(q, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete):
	case q.r.Method == http.MethodGet:
		ops.get(q, id)
	case q.r.Method == http.MethodDelete:
		ops.remove(q, id)
	default:
		ops.write(q, id)
	}
}
