package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/faultproxy"
	"authentik-matrix-sync/e2e/harness"
)

const (
	serverName     = "localhost"
	authentikToken = "soak-authentik-token"
	botLocalpart   = "syncbot"
)

// world is everything a soak run starts: Synapse, the fake Authentik, the fault proxy between
// the bot and Synapse, and the bot process.
type world struct {
	work    string
	hs      *harness.Synapse
	ak      *authentiktest.Server
	proxy   *faultproxy.Proxy
	asToken string
	bot     harness.User // the appservice bot, acting with the as_token
	owner   harness.User
	users   []string // localparts
	groups  []string
	rooms   []id.RoomID // rooms[i] is mapped from groups[i]
	force   int         // the first force rooms join users; the others invite
	asPort  int         // where Synapse sends the bot its transactions

	// akSrv serves the fake Authentik through recordReads.
	akSrv  *httptest.Server
	readMu sync.Mutex
	reads  []groupRead

	botCmd     *exec.Cmd
	botLog     string
	botDone    chan struct{}
	botExitErr error
	metrics    string

	http *http.Client
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// setup builds the bot, starts Synapse with the bot's registration, registers the users and
// creates the rooms. The bot is not started yet.
func setup(ctx context.Context, o options, logf func(string, ...any)) (*world, error) {
	work, err := os.MkdirTemp("", "ams-soak-")
	if err != nil {
		return nil, err
	}
	w := &world{work: work, http: &http.Client{Timeout: 60 * time.Second}, force: o.Rooms / 4}
	bin := filepath.Join(work, "authentik-matrix-sync")
	logf("building the bot")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/authentik-matrix-sync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return w, fmt.Errorf("build the bot (run soak from the repository root): %v\n%s", err, out)
	}
	asPort, err := freePort()
	if err != nil {
		return w, err
	}
	w.asPort = asPort
	reg := filepath.Join(work, "registration.yaml")
	gen := filepath.Join(work, "generate.yaml")
	if err := writeYAML(gen, map[string]any{
		"homeserver": map[string]any{"address": "http://127.0.0.1:1", "domain": serverName},
		"appservice": map[string]any{"registration": reg, "address": fmt.Sprintf("http://127.0.0.1:%d", asPort), "bot_username": botLocalpart},
		"authentik":  map[string]any{"url": "http://127.0.0.1:1", "token": "unused"},
	}); err != nil {
		return w, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", gen, "-g", "-r", reg).CombinedOutput(); err != nil {
		return w, fmt.Errorf("generate the registration: %v\n%s", err, out)
	}
	var regFile struct {
		ASToken string `yaml:"as_token"`
	}
	if b, err := os.ReadFile(reg); err != nil || yaml.Unmarshal(b, &regFile) != nil || regFile.ASToken == "" {
		return w, fmt.Errorf("registration %s has no as_token (%v)", reg, err)
	}
	w.asToken = regFile.ASToken

	logf("starting Synapse")
	if w.hs, err = harness.Start(ctx, harness.Options{Dir: filepath.Join(work, "synapse"), ServerName: serverName,
		AppserviceRegistrations: []string{reg}}); err != nil {
		return w, fmt.Errorf("start synapse: %w", err)
	}
	w.bot = harness.User{ID: id.NewUserID(botLocalpart, serverName), Token: w.asToken}
	if err := w.registerAS(ctx, botLocalpart); err != nil {
		return w, err
	}
	if w.owner, err = w.hs.RegisterUser(ctx, "owner", "pw-owner", false); err != nil {
		return w, err
	}
	logf("registering %d users through the appservice API", o.Users)
	for i := range o.Users {
		w.users = append(w.users, fmt.Sprintf("u%04d", i+1))
	}
	if err := parallel(16, w.users, func(u string) error { return w.registerAS(ctx, u) }); err != nil {
		return w, err
	}
	logf("creating %d rooms", o.Rooms)
	for i := range o.Rooms {
		g := fmt.Sprintf("g%02d", i+1)
		room, err := w.hs.CreateRoom(ctx, w.owner, harness.RoomOptions{Name: "soak " + g,
			Invite: []id.UserID{w.bot.ID}, PowerLevelUsers: map[id.UserID]int{w.bot.ID: 100}})
		if err != nil {
			return w, err
		}
		if err := w.hs.Join(ctx, w.bot, room); err != nil {
			return w, fmt.Errorf("bot joins %s: %w", room, err)
		}
		w.groups = append(w.groups, g)
		w.rooms = append(w.rooms, room)
	}
	w.ak = authentiktest.NewHandler(authentikToken)
	w.akSrv = httptest.NewServer(w.recordReads(w.ak))
	for _, u := range w.users {
		w.ak.AddUser(u)
	}
	for _, g := range w.groups {
		w.ak.AddGroup(g, "")
	}
	if w.proxy, err = faultproxy.Start(w.hs.URL); err != nil {
		return w, err
	}
	return w, nil
}

// parallel runs f on every item with n workers and returns the first error.
func parallel(n int, items []string, f func(string) error) error {
	ch := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range n {
		wg.Go(func() {
			for it := range ch {
				if err := f(it); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	return first
}

// registerAS creates an account through the appservice registration API (no password, no
// device), the quickest way to make many users.
func (w *world) registerAS(ctx context.Context, localpart string) error {
	body, _ := json.Marshal(map[string]any{"type": "m.login.application_service", "username": localpart, "inhibit_login": true})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.hs.URL+"/_matrix/client/v3/register", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+w.asToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("register %s: %w", localpart, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 400 { // 400 M_USER_IN_USE: already there
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("register %s: %s %s", localpart, resp.Status, b)
	}
	return nil
}

// startBot writes the bot's config and starts it.
func (w *world) startBot(o options) error {
	var mappings []map[string]any
	for i, g := range w.groups {
		method := "invite"
		if i < w.force {
			method = "force"
		}
		mappings = append(mappings, map[string]any{"group": g, "room": string(w.rooms[i]), "method": method})
	}
	metricsPort, err := freePort()
	if err != nil {
		return err
	}
	w.metrics = fmt.Sprintf("127.0.0.1:%d", metricsPort)
	reg := filepath.Join(w.work, "registration.yaml")
	conf := map[string]any{
		"homeserver": map[string]any{"address": w.proxy.URL(), "domain": serverName},
		"appservice": map[string]any{"registration": reg, "hostname": "127.0.0.1", "port": w.asPort},
		"authentik":  map[string]any{"url": w.akSrv.URL, "token": authentikToken, "timeout": "3s", "page_size": 20},
		"sync": map[string]any{"interval": o.Interval.String(), "grace_period": o.Grace.String(), "mappings": mappings,
			"remove_action": "kick", "max_removals_per_cycle": 0, "max_removal_fraction": 0, "max_backoff": o.Backoff.String()},
		"database": map[string]any{"data_dir": filepath.Join(w.work, "data")},
		"metrics":  map[string]any{"listen": w.metrics},
	}
	path := filepath.Join(w.work, "config.yaml")
	if err := writeYAML(path, conf); err != nil {
		return err
	}
	w.botLog = filepath.Join(w.work, "bot.log")
	logFile, err := os.Create(w.botLog)
	if err != nil {
		return err
	}
	w.botCmd = exec.Command(filepath.Join(w.work, "authentik-matrix-sync"), "-c", path)
	w.botCmd.Env = append(os.Environ(), "LOG_LEVEL=info", "LOG_FORMAT=json")
	w.botCmd.Dir = w.work
	w.botCmd.Stdout, w.botCmd.Stderr = logFile, logFile
	w.botCmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.botCmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	w.botDone = make(chan struct{})
	go func() { w.botExitErr = w.botCmd.Wait(); logFile.Close(); close(w.botDone) }()
	return nil
}

// botRunning reports whether the bot process is still alive.
func (w *world) botRunning() bool {
	select {
	case <-w.botDone:
		return false
	default:
		return true
	}
}

// stopBot ends the bot with SIGTERM (SIGKILL after 15 s).
func (w *world) stopBot() {
	if w.botCmd == nil || !w.botRunning() {
		return
	}
	_ = w.botCmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.botDone:
	case <-time.After(15 * time.Second):
		_ = w.botCmd.Process.Kill()
		<-w.botDone
	}
}

// close stops everything; the working directory goes unless keep.
func (w *world) close(keep bool) {
	w.stopBot()
	if w.proxy != nil {
		w.proxy.Close()
	}
	if w.akSrv != nil {
		w.akSrv.Close()
	}
	if w.hs != nil {
		_ = w.hs.Stop()
	}
	if !keep {
		_ = os.RemoveAll(w.work)
	}
}

// rss reads the bot's resident memory from /proc, in bytes (0 if unknown).
func (w *world) rss() int64 {
	if w.botCmd == nil || w.botCmd.Process == nil {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", w.botCmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memberEvent is a membership change from a room's timeline.
type memberEvent struct {
	Sender   id.UserID
	StateKey string
	At       time.Time
	Content  struct {
		Membership string `json:"membership"`
	}
}

// memberEvents reads every m.room.member event of the room's timeline, oldest last, as the
// owner (who is in every room since its creation).
func (w *world) memberEvents(ctx context.Context, room id.RoomID) ([]memberEvent, error) {
	var out []memberEvent
	from := ""
	filter := url.QueryEscape(`{"types":["m.room.member"]}`)
	for page := 0; page < 10000; page++ {
		u := w.hs.URL + "/_matrix/client/v3/rooms/" + url.PathEscape(string(room)) + "/messages?dir=b&limit=1000&filter=" + filter
		if from != "" {
			u += "&from=" + url.QueryEscape(from)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+w.owner.Token)
		resp, err := w.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("read the timeline of %s: %w", room, err)
		}
		var body struct {
			Chunk []struct {
				Sender   id.UserID       `json:"sender"`
				StateKey *string         `json:"state_key"`
				TS       int64           `json:"origin_server_ts"`
				Content  json.RawMessage `json:"content"`
			} `json:"chunk"`
			End string `json:"end"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return nil, fmt.Errorf("read the timeline of %s: %s %v", room, resp.Status, err)
		}
		for _, ev := range body.Chunk {
			if ev.StateKey == nil {
				continue
			}
			me := memberEvent{Sender: ev.Sender, StateKey: *ev.StateKey, At: time.UnixMilli(ev.TS)}
			_ = json.Unmarshal(ev.Content, &me.Content)
			out = append(out, me)
		}
		if len(body.Chunk) == 0 || body.End == "" {
			return out, nil
		}
		from = body.End
	}
	return out, fmt.Errorf("the timeline of %s never ends", room)
}

// groupRead is a complete, consistent listing of a group's members that reached the bot: what
// the bot acts on. Listings that a fault broke (an error status, a dropped connection, a cut or
// malformed body, a client that gave up) or whose count changed between pages are not reads.
type groupRead struct {
	At time.Time // when the first page was answered
	PK string
}

// listing is a member listing the bot is in the middle of reading.
type listing struct {
	start    time.Time
	count    int
	wantPage int
}

// recordReads follows every read of group members, so the oracle knows when the bot could see
// each group: a group with its members (core/groups/, listed or alone, with users_obj), or a
// listing of a group's users (core/users/?groups_by_pk=) through its pages.
func (w *world) recordReads(next http.Handler) http.Handler {
	inProgress := map[string]*listing{} // by group PK; guarded by readMu
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/core/groups/") {
			w.recordGroupReads(next, rw, r)
			return
		}
		pk := r.URL.Query().Get("groups_by_pk")
		if pk == "" || !strings.HasPrefix(r.URL.Path, "/api/v3/core/users/") {
			next.ServeHTTP(rw, r)
			return
		}
		rec := &statusWriter{ResponseWriter: rw}
		next.ServeHTTP(rec, r)
		page, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil {
			page = 1
		}
		var body struct {
			Pagination struct {
				Next, Count int
			} `json:"pagination"`
		}
		ok := rec.status == http.StatusOK && r.Context().Err() == nil && !rec.short() &&
			json.Unmarshal(rec.body.Bytes(), &body) == nil
		w.readMu.Lock()
		defer w.readMu.Unlock()
		l := inProgress[pk]
		switch {
		case !ok:
			delete(inProgress, pk)
			return
		case page == 1:
			l = &listing{start: time.Now(), count: body.Pagination.Count, wantPage: 1}
			inProgress[pk] = l
		case l == nil || page != l.wantPage || body.Pagination.Count != l.count:
			delete(inProgress, pk)
			return
		}
		if body.Pagination.Next == 0 {
			w.reads = append(w.reads, groupRead{At: l.start, PK: pk})
			delete(inProgress, pk)
			return
		}
		l.wantPage = body.Pagination.Next
	})
}

// groupWithMembers is what recordGroupReads needs of a group in core/groups/.
type groupWithMembers struct {
	PK       string            `json:"pk"`
	Users    []json.RawMessage `json:"users"`
	UsersObj []json.RawMessage `json:"users_obj"`
}

// recordGroupReads serves a core/groups/ request and records a read of every group the answer
// holds whole with its members: users_obj present and as long as the member list. Each group
// comes in one object, so a page on its own is a consistent read of the groups on it.
func (w *world) recordGroupReads(next http.Handler, rw http.ResponseWriter, r *http.Request) {
	at := time.Now()
	rec := &statusWriter{ResponseWriter: rw}
	next.ServeHTTP(rec, r)
	if rec.status != http.StatusOK || r.Context().Err() != nil || rec.short() {
		return
	}
	var groups []groupWithMembers
	if strings.TrimSuffix(r.URL.Path, "/") == "/api/v3/core/groups" {
		var page struct {
			Results []groupWithMembers `json:"results"`
		}
		if json.Unmarshal(rec.body.Bytes(), &page) != nil {
			return
		}
		groups = page.Results
	} else {
		var g groupWithMembers
		if json.Unmarshal(rec.body.Bytes(), &g) != nil {
			return
		}
		groups = []groupWithMembers{g}
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	for _, g := range groups {
		if g.PK != "" && g.UsersObj != nil && len(g.UsersObj) == len(g.Users) {
			w.reads = append(w.reads, groupRead{At: at, PK: g.PK})
		}
	}
}

// statusWriter remembers the status and body written, and lets the fake hijack the connection
// (to drop it) as it would without the wrapper.
type statusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	s.body.Write(b)
	return s.ResponseWriter.Write(b)
}

// short reports a body cut before its announced length.
func (s *statusWriter) short() bool {
	n, err := strconv.Atoi(s.Header().Get("Content-Length"))
	return err == nil && n != s.body.Len()
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return s.ResponseWriter.(http.Hijacker).Hijack()
}
