// Package pgtest gives tests a real PostgreSQL server: the one TEST_DATABASE_URL names, or else a
// throwaway cluster made with initdb and run from a temporary directory on a Unix socket, so no
// port can clash with anything else on the machine.
//
// PostgreSQL refuses to run as root. When the tests run as root (CI containers do), initdb and the
// server run as the unprivileged user nobody: the cluster directory is created for and chowned to
// nobody, and the child processes get nobody's uid and gid through SysProcAttr.Credential.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names an existing server to use instead of a throwaway one. Its user must be allowed to
// create databases.
const EnvURL = "TEST_DATABASE_URL"

// nobody is the uid and gid the cluster runs as when the tests run as root.
const nobody = 65534

// Server is a PostgreSQL server the tests may create databases on.
type Server struct {
	// admin is a URL with the right to create and drop databases.
	admin *url.URL
	dir   string
	proc  *exec.Cmd
	exit  chan error
}

// Start returns the server named by TEST_DATABASE_URL, or starts a throwaway cluster. Stop it
// when done.
func Start(ctx context.Context) (*Server, error) {
	if raw := os.Getenv(EnvURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s is not a URL: %w", EnvURL, err)
		}
		return &Server{admin: u}, nil
	}
	return startCluster(ctx)
}

// BinDir finds the directory of initdb: on PATH, else the newest /usr/lib/postgresql/*/bin
// (Debian's postgresql package does not put initdb on PATH).
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", errors.New("initdb not found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL (Debian: apt-get install -y postgresql) or set " + EnvURL)
	}
	// Glob sorts lexically; good enough to prefer 17 over 15, and 1x over 9.x is moot today.
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

func startCluster(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	s := &Server{dir: dir}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			return fail(fmt.Errorf("hand %s to uid %d: %w", dir, nobody, err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = credentials(asRoot)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb in %s: %w\n%s", data, err, out))
	}
	// No TCP at all: the socket in dir is the only way in, so parallel test binaries never clash.
	s.proc = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200",
		"-c", "log_min_messages=warning")
	s.proc.SysProcAttr = credentials(asRoot)
	setParentDeathSignal(s.proc.SysProcAttr)
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	s.proc.Stdout, s.proc.Stderr = logFile, logFile
	if err := s.proc.Start(); err != nil {
		logFile.Close()
		return fail(fmt.Errorf("start postgres in %s: %w", data, err))
	}
	logFile.Close()
	s.exit = make(chan error, 1)
	go func() { s.exit <- s.proc.Wait() }()
	s.admin = &url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {dir}}.Encode()}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func credentials(asRoot bool) *syscall.SysProcAttr {
	if !asRoot {
		return &syscall.SysProcAttr{}
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, s.admin.String())
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case werr := <-s.exit:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited before accepting connections (%v):\n%s", werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres in %s did not accept connections within 30s: %w", s.dir, err)
		}
	}
}

// Stop shuts a throwaway cluster down and deletes it; a server from TEST_DATABASE_URL is left
// alone.
func (s *Server) Stop() {
	if s.proc == nil {
		return
	}
	// SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing is waited for.
	s.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		s.proc.Process.Kill()
		<-s.exit
	}
	os.RemoveAll(s.dir)
	s.proc = nil
}

// URL returns the URL of database name on this server.
func (s *Server) URL(name string) string {
	u := *s.admin
	u.Path = "/" + name
	return u.String()
}

// CreateDatabase creates a database with a random name starting with prefix and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	b := make([]byte, 6)
	rand.Read(b)
	name := strings.ToLower(sanitize(prefix)) + "_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return "", fmt.Errorf("connect to %s to create a database: %w", s.admin.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// DropDatabase drops the database at dbURL, disconnecting anyone still on it.
func (s *Server) DropDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// Database creates a fresh database for t and drops it when t ends.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	u, err := s.CreateDatabase(context.Background(), "t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.DropDatabase(context.Background(), u); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return u
}

// sanitize keeps a database name prefix to letters, digits and underscores.
func sanitize(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "db"
	}
	return b.String()
}

// Shared is a server started on first use and shared by a test binary's tests, so packages whose
// other tests need no PostgreSQL start none. Stop it in TestMain after m.Run.
type Shared struct {
	once sync.Once
	s    *Server
	err  error
}

// Get returns the shared server, starting it if needed; a server that cannot start fails t: the
// tests are never skipped silently.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.s, sh.err = Start(context.Background()) })
	if sh.err != nil {
		t.Fatalf("no PostgreSQL for the tests: %v", sh.err)
	}
	return sh.s
}

// Stop stops the server if it was started.
func (sh *Shared) Stop() {
	sh.once.Do(func() {})
	if sh.s != nil {
		sh.s.Stop()
	}
}
