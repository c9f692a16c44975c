// Package harness starts a real, throwaway Synapse homeserver for end-to-end tests and the demo,
// and talks to it with plain net/http so that what the tests assert does not depend on the Matrix
// client code under test.
//
// Synapse comes from a project-local virtualenv made by `make synapse` (scripts/setup-synapse.sh).
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"maunium.net/go/mautrix/id"
)

// ErrSynapseNotInstalled is returned by Start when the virtualenv holds no Synapse.
var ErrSynapseNotInstalled = errors.New("synapse is not installed: run `make synapse` first")

const (
	// startTimeout bounds the wait for /versions; a cold start here answers in 1–2 s, so a minute
	// only runs out when Synapse is stuck or crashed in a way the log explains.
	startTimeout = 60 * time.Second
	// stopGrace is how long Synapse gets to shut down cleanly after SIGTERM.
	stopGrace = 10 * time.Second

	adminLocalpart = "admin"
	configName     = "homeserver.yaml"
	logName        = "homeserver.log"
	// outputName collects stdout and stderr: errors before logging is configured (a bad config, a
	// port in use) only appear there.
	outputName = "homeserver.out"
)

// Options says where and how to run the homeserver.
type Options struct {
	// Dir holds the config, the SQLite database, media and logs. A Dir that already holds a
	// homeserver.yaml is reused (its database and users survive), which is what the demo wants.
	Dir string
	// ServerName is the Matrix domain; default "localhost".
	ServerName string
	// Port is the loopback port of the client listener; 0 picks a free one.
	Port int
	// AppserviceRegistrations are paths of appservice registration files Synapse loads at start.
	AppserviceRegistrations []string
	// Venv is the virtualenv holding Synapse; default $SYNAPSE_VENV, else <repo root>/.venv/synapse.
	// A relative path is taken from the repository root, as scripts/setup-synapse.sh does.
	Venv string
}

// Synapse is a running homeserver.
type Synapse struct {
	URL        string
	ServerName string
	Dir        string
	AdminID    id.UserID
	AdminToken string

	http *http.Client
	cmd  *exec.Cmd
	// exited is closed once the process has been reaped; exitErr is valid after that.
	exited  chan struct{}
	exitErr error
	stop    sync.Once
	stopErr error
	txn     atomic.Int64 // transaction IDs for SendText
}

// User is an account with an access token, the identity harness calls act as.
type User struct {
	ID    id.UserID
	Token string
}

// Admin returns the server admin registered by Start.
func (s *Synapse) Admin() User {
	return User{ID: s.AdminID, Token: s.AdminToken}
}

// Start configures and starts Synapse, waits until it answers, and registers the server admin
// "admin". The process is tied to the calling process: it dies with it.
func Start(ctx context.Context, opts Options) (*Synapse, error) {
	if opts.Dir == "" {
		return nil, errors.New("start synapse: Options.Dir is empty; pass t.TempDir() or a demo directory")
	}
	if opts.ServerName == "" {
		opts.ServerName = "localhost"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start synapse: resolve dir %q: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start synapse: create dir %s: %w", dir, err)
	}
	python, err := venvPython(opts.Venv)
	if err != nil {
		return nil, err
	}
	regs := make([]string, 0, len(opts.AppserviceRegistrations))
	for _, r := range opts.AppserviceRegistrations {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("start synapse: resolve appservice registration %q: %w", r, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("start synapse: appservice registration: %w", err)
		}
		regs = append(regs, abs)
	}

	configPath := filepath.Join(dir, configName)
	if _, err := os.Stat(configPath); errors.Is(err, os.ErrNotExist) {
		if err := generateConfig(ctx, python, dir, opts.ServerName); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("start synapse: %w", err)
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		settings := testSettings{Dir: dir, Port: port, AppserviceRegistrations: regs}
		if err := rewriteConfig(configPath, opts.ServerName, settings); err != nil {
			return nil, err
		}
		s, err := run(ctx, python, dir, opts.ServerName, port)
		// A port picked here can be taken by someone else before Synapse binds it (parallel tests
		// do exactly that); a fresh pick is the cure. A port the caller chose is their business.
		if errors.Is(err, errPortInUse) && opts.Port == 0 && attempt < 3 {
			continue
		}
		return s, err
	}
}

// errPortInUse marks a start-up that failed because the listener port was taken.
var errPortInUse = errors.New("port in use")

// run starts the process on a written config and waits until it serves, with the admin set up.
func run(ctx context.Context, python, dir, serverName string, port int) (*Synapse, error) {
	s := &Synapse{
		URL:        fmt.Sprintf("http://127.0.0.1:%d", port),
		ServerName: serverName,
		Dir:        dir,
		http:       &http.Client{Timeout: 30 * time.Second},
		exited:     make(chan struct{}),
	}
	if err := s.launch(python); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	admin, err := s.ensureAdmin(ctx)
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.AdminID, s.AdminToken = admin.ID, admin.Token
	return s, nil
}

func (s *Synapse) launch(python string) error {
	out, err := os.OpenFile(filepath.Join(s.Dir, outputName), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("start synapse: open output file: %w", err)
	}
	// Not CommandContext: ctx bounds the start-up, while the server must outlive it until Stop.
	cmd := exec.Command(python, "-m", "synapse.app.homeserver", "-c", configName)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start synapse: run %s: %w", python, err)
	}
	out.Close() // the child holds its own descriptor
	s.cmd = cmd
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	return nil
}

func (s *Synapse) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		// A short per-probe timeout: whatever else holds the port may accept and never answer,
		// and the probe must not hide that Synapse itself has exited.
		probeCtx, probeCancel := context.WithTimeout(ctx, time.Second)
		lastErr = s.versions(probeCtx)
		probeCancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.exited:
			err := fmt.Errorf("synapse exited during start-up (%v); log tail:\n%s", s.exitErr, s.LogTail(40))
			// Truncated at each launch, the output holds only this attempt's traceback.
			if out, _ := os.ReadFile(filepath.Join(s.Dir, outputName)); bytes.Contains(out, []byte("Address already in use")) {
				err = fmt.Errorf("%w: %w", errPortInUse, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("synapse at %s did not answer /_matrix/client/versions (last error: %v): %w; log tail:\n%s",
				s.URL, lastErr, ctx.Err(), s.LogTail(40))
		case <-tick.C:
		}
	}
}

func (s *Synapse) versions(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/_matrix/client/versions", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// Stop ends Synapse: SIGTERM to its process group, SIGKILL if it is still running after 10 s.
// Calling it again returns the first result.
func (s *Synapse) Stop() error {
	s.stop.Do(func() {
		if s.cmd == nil {
			return
		}
		pgid := -s.cmd.Process.Pid
		if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.stopErr = fmt.Errorf("stop synapse (pid %d): %w", s.cmd.Process.Pid, err)
		}
		select {
		case <-s.exited:
		case <-time.After(stopGrace):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-s.exited
			s.stopErr = fmt.Errorf("stop synapse (pid %d): no exit %s after SIGTERM, killed; log tail:\n%s",
				s.cmd.Process.Pid, stopGrace, s.LogTail(20))
		}
	})
	return s.stopErr
}

// LogTail returns the last n lines of the homeserver log, followed by the process output if there
// is any, for test failure messages.
func (s *Synapse) LogTail(n int) string {
	var b strings.Builder
	b.WriteString(tailFile(filepath.Join(s.Dir, logName), n))
	if out := tailFile(filepath.Join(s.Dir, outputName), n); out != "" {
		fmt.Fprintf(&b, "--- %s ---\n%s", outputName, out)
	}
	return b.String()
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return fmt.Sprintf("(cannot read %s: %v)\n", path, err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if last := len(lines) - 1; lines[last] == "" {
		lines = lines[:last]
	}
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "")
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}

// venvPython finds the virtualenv's interpreter, or says how to make one.
func venvPython(venv string) (string, error) {
	if venv == "" {
		venv = os.Getenv("SYNAPSE_VENV")
	}
	if venv == "" {
		venv = filepath.Join(".venv", "synapse")
	}
	if !filepath.IsAbs(venv) {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		venv = filepath.Join(root, venv)
	}
	python := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(python); err != nil {
		return "", fmt.Errorf("no Python at %s (%w): %w", python, err, ErrSynapseNotInstalled)
	}
	return python, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod, so tests in any
// package and a demo started from a subdirectory find the same virtualenv.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod above %s; set SYNAPSE_VENV to an absolute path", wd)
		}
		dir = parent
	}
}

// freePort asks the kernel for an unused loopback port. Another process may take it before
// Synapse binds; Start then fails fast with the bind error in the log tail.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port for synapse: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
