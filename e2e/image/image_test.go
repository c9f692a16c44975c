//go:build imagetest

package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

const (
	serverName = "localhost"
	// gracePeriod is long enough that a removal carried out at once after a restart cannot be
	// mistaken for one that waited a new grace period.
	gracePeriod = 20 * time.Second
	// The image's user, which owns the volume and must be able to read the secret files.
	imageUID = 1000
)

// TestImageAsUsersRunIt runs the built image as a hardened Compose service does and checks what
// an operator relies on: members joined, the HEALTHCHECK passing, metrics.listen from the mounted
// config.yaml honoured, a removal that fell due while the container was stopped carried out at
// once after `docker start` (the state is in the volume), a backup in the volume before that
// kick, and SIGTERM ending the program with exit code 0 before Docker's 10 s grace runs out.
func TestImageAsUsersRunIt(t *testing.T) {
	image := os.Getenv("IMAGE_TEST_IMAGE")
	if image == "" {
		t.Fatal("IMAGE_TEST_IMAGE is not set: run `make image-test`, which builds the image and sets it")
	}
	d := docker{bin: envOr("IMAGE_TEST_DOCKER", "docker")}
	ctx := t.Context()
	checkLabels(t, d, image)

	hs, err := harness.Start(ctx, harness.Options{Dir: t.TempDir(), ServerName: serverName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hs.Stop() })
	bot, err := hs.RegisterUser(ctx, "syncbot", "syncbot-password", true) // force joins need a server admin
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := id.NewUserID("alice", serverName), id.NewUserID("bob", serverName)
	for _, u := range []id.UserID{alice, bob} {
		if _, err := hs.RegisterUser(ctx, u.Localpart(), "password-"+u.Localpart(), false); err != nil {
			t.Fatal(err)
		}
	}
	room, err := hs.CreateRoom(ctx, bot, harness.RoomOptions{Name: "staff"})
	if err != nil {
		t.Fatal(err)
	}
	akToken := randomHex(t)
	ak := authentiktest.New(akToken)
	t.Cleanup(ak.Close)
	ak.AddUser("alice")
	ak.AddUser("bob")
	ak.AddGroup("staff", "")
	ak.AddMembers("staff", "alice", "bob")

	// The files an operator mounts: config.yaml, and secrets readable by the image's user only.
	dir := t.TempDir()
	metricsPort := freePort(t)
	writeFile(t, filepath.Join(dir, "authentik_token"), akToken, 0o400, imageUID)
	writeFile(t, filepath.Join(dir, "matrix_token"), bot.Token, 0o400, imageUID)
	writeFile(t, filepath.Join(dir, "config.yaml"), fmt.Sprintf(`homeserver:
    address: %s
matrix:
    user_id: "%s"
authentik:
    url: %s
sync:
    interval: 2s
    join_method: force
    grace_period: %s
    remove_action: kick
    max_removal_fraction: 0
    mappings:
        - group: staff
          room: "%s"
metrics:
    listen: 0.0.0.0:%d
`, hs.URL, bot.ID, ak.URL(), gracePeriod, room, metricsPort), 0o644, 0)

	suffix := randomHex(t)[:8]
	c := container{d: d, name: "ams-image-test-" + suffix}
	volume := "ams-image-test-data-" + suffix
	d.must(t, "volume", "create", volume)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := d.run("logs", "--tail", "80", c.name)
			t.Logf("container log (last 80 lines):\n%s", logs)
		}
		_, _ = d.run("rm", "-f", c.name)
		_, _ = d.run("volume", "rm", "-f", volume)
	})
	// The Compose hardening of docs/operations.md, on the host's network (the private daemon has no bridge; the
	// homeserver and the fake Authentik listen on loopback). Only the health check's interval is
	// shortened, from 30 s, so the test need not wait for it; its command is the image's.
	d.must(t, "run", "--detach", "--name", c.name, "--network", "host",
		"--read-only", "--cap-drop", "ALL", "--user", "1000:1000", "--security-opt", "no-new-privileges:true",
		"--volume", volume+":/app/data",
		"--volume", filepath.Join(dir, "config.yaml")+":/app/config.yaml:ro",
		"--volume", filepath.Join(dir, "authentik_token")+":/run/secrets/authentik_token:ro",
		"--volume", filepath.Join(dir, "matrix_token")+":/run/secrets/matrix_token:ro",
		"--env", "CONFIG_FILE=/app/config.yaml",
		"--env", "AUTHENTIK_TOKEN_FILE=/run/secrets/authentik_token",
		"--env", "MATRIX_ACCESS_TOKEN_FILE=/run/secrets/matrix_token",
		"--health-interval", "2s",
		image)

	// Members joined.
	waitMembership(t, hs, room, map[id.UserID]string{alice: "join", bob: "join"}, 2*time.Minute)
	t.Log("alice and bob joined the mapped room")

	// The image's HEALTHCHECK passes.
	c.waitHealthy(t)
	t.Log("the container is healthy")

	// metrics.listen from the mounted config.yaml is the listener (no variable of the image
	// overrides it), on every address of the host.
	for _, host := range metricsHosts(t) {
		url := fmt.Sprintf("http://%s/health", net.JoinHostPort(host, strconv.Itoa(metricsPort)))
		if err := getOK(ctx, url); err != nil {
			t.Fatalf("metrics.listen 0.0.0.0:%d from config.yaml not honoured: %v", metricsPort, err)
		}
		t.Logf("metrics.listen honoured: %s answers", url)
	}

	// bob leaves the group: his removal is scheduled for a grace period later.
	ak.RemoveMembers("staff", "bob")
	due := c.waitScheduled(t, bob)
	t.Logf("bob's removal is due at %s", due.Format(time.RFC3339))

	// docker stop: SIGTERM, then SIGKILL after 10 s. Exit code 0 means the program stopped by
	// itself in time; a SIGKILL would leave 137.
	took := c.stop(t)
	t.Logf("SIGTERM: exit code 0 after %s", took.Round(10*time.Millisecond))

	// The removal falls due while the container is stopped.
	if wait := time.Until(due.Add(2 * time.Second)); wait > 0 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(wait):
		}
	}
	restarted := time.Now()
	d.must(t, "start", c.name)
	waitMembership(t, hs, room, map[id.UserID]string{bob: "leave", alice: "join"}, time.Minute)
	kicked := kickTime(t, hs, bot, room, bob)
	if deadline := restarted.Add(gracePeriod); !kicked.Before(deadline) {
		t.Fatalf("bob was kicked at %s, a whole grace period after the restart at %s: the pending removal was not kept in the volume",
			kicked.Format(time.RFC3339Nano), restarted.Format(time.RFC3339Nano))
	}
	t.Logf("state kept across the restart: bob kicked %s after docker start", kicked.Sub(restarted).Round(10*time.Millisecond))

	// The volume holds a backup taken before the kick, and everything in it is the image user's.
	c.checkBackupBefore(t, restarted, kicked)

	c.waitHealthy(t)
	took = c.stop(t)
	t.Logf("SIGTERM after the restart: exit code 0 after %s", took.Round(10*time.Millisecond))
}

// checkLabels checks the image's OCI labels against the build's VERSION and REVISION, and says
// when the image stands on stand-in base images.
func checkLabels(t *testing.T, d docker, image string) {
	t.Helper()
	out := d.must(t, "image", "inspect", "--format", "{{json .Config.Labels}}", image)
	var labels map[string]string
	if err := json.Unmarshal([]byte(out), &labels); err != nil {
		t.Fatalf("image labels %q: %v", out, err)
	}
	want := map[string]string{"org.opencontainers.image.title": "authentik-matrix-sync"}
	if v := os.Getenv("IMAGE_TEST_VERSION"); v != "" {
		want["org.opencontainers.image.version"] = v
	}
	if v := os.Getenv("IMAGE_TEST_REVISION"); v != "" {
		want["org.opencontainers.image.revision"] = v
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	for _, k := range []string{"org.opencontainers.image.description", "org.opencontainers.image.licenses"} {
		if labels[k] == "" {
			t.Errorf("label %s is missing", k)
		}
	}
	if s := labels["authentik-matrix-sync.image-test.stand-in"]; s != "" {
		t.Logf("STAND-IN base images: this image was built on stand-ins, not on the Dockerfile's real bases: %s", s)
	}
}

type docker struct{ bin string }

// run runs the docker client and returns its combined output.
func (d docker) run(args ...string) (string, error) {
	out, err := exec.Command(d.bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (d docker) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

type container struct {
	d    docker
	name string
}

func (c container) inspect(t *testing.T, format string) string {
	t.Helper()
	return c.d.must(t, "inspect", "--format", format, c.name)
}

func (c container) waitHealthy(t *testing.T) {
	t.Helper()
	err := harness.WaitFor(t.Context(), 2*time.Minute, func() (bool, error) {
		out, err := c.d.run("inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", c.name)
		if err != nil {
			return false, err
		}
		if state := strings.Fields(out); len(state) == 2 && state[0] == "running" && state[1] == "healthy" {
			return true, nil
		}
		return false, fmt.Errorf("state and health %q", strings.TrimSpace(out))
	})
	if err != nil {
		last, _ := c.d.run("inspect", "--format", "{{json .State.Health}}", c.name)
		t.Fatalf("the container did not become healthy: %v\nhealth: %s", err, last)
	}
}

// stop sends SIGTERM as docker stop does, with Docker's default 10 s before SIGKILL, and
// requires exit code 0.
func (c container) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	c.d.must(t, "stop", "--time", "10", c.name)
	took := time.Since(start)
	if code := c.inspect(t, "{{.State.ExitCode}}"); code != "0" {
		t.Fatalf("after SIGTERM the container exited with %s, want 0 (137: killed after the 10 s grace)", code)
	}
	return took
}

// waitScheduled waits for the log line of user's scheduled removal and returns when it is due.
func (c container) waitScheduled(t *testing.T, user id.UserID) time.Time {
	t.Helper()
	var due time.Time
	err := harness.WaitFor(t.Context(), time.Minute, func() (bool, error) {
		logs, err := c.d.run("logs", c.name)
		if err != nil {
			return false, err
		}
		sc := bufio.NewScanner(strings.NewReader(logs))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct {
				Message string    `json:"message"`
				User    string    `json:"user"`
				DueAt   time.Time `json:"due_at"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			if line.Message == "Removal scheduled after the grace period" && line.User == string(user) {
				due = line.DueAt
				return true, nil
			}
		}
		return false, fmt.Errorf("no removal of %s scheduled in the log", user)
	})
	if err != nil {
		t.Fatal(err)
	}
	return due
}

// backupName is the store's name for a SQLite backup: the UTC time it was taken, to the second.
var backupName = regexp.MustCompile(`^authentik-matrix-sync-(\d{8}T\d{6}Z)(?:-\d+)?\.db$`)

// checkBackupBefore reads the volume through the container (docker cp works on a stopped one
// too) and wants a backup taken between the restart and the kick, every file owned by the image's
// user.
func (c container) checkBackupBefore(t *testing.T, restarted, kicked time.Time) {
	t.Helper()
	cmd := exec.Command(c.d.bin, "cp", c.name+":/app/data", "-")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker cp %s:/app/data: %v", c.name, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	var backups []string
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the volume's archive: %v", err)
		}
		if h.Uid != imageUID {
			t.Errorf("%s in the volume is owned by uid %d, want %d", h.Name, h.Uid, imageUID)
		}
		m := backupName.FindStringSubmatch(path.Base(h.Name))
		if m == nil {
			continue
		}
		backups = append(backups, path.Base(h.Name))
		taken, err := time.Parse("20060102T150405Z", m[1])
		if err != nil {
			t.Fatalf("backup %s: %v", h.Name, err)
		}
		// The name holds whole seconds: compare with the restart's second.
		if !taken.Before(restarted.Truncate(time.Second)) && !taken.After(kicked) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no backup taken between the restart (%s) and the kick (%s) in the volume; backups: %v",
			restarted.UTC().Format(time.RFC3339), kicked.UTC().Format(time.RFC3339Nano), backups)
	}
	t.Logf("backups in the volume: %v", backups)
}

func waitMembership(t *testing.T, hs *harness.Synapse, room id.RoomID, want map[id.UserID]string, timeout time.Duration) {
	t.Helper()
	err := harness.WaitFor(t.Context(), timeout, func() (bool, error) {
		got, err := hs.Memberships(t.Context(), room)
		if err != nil {
			return false, err
		}
		for user, membership := range want {
			if got[user].Membership != membership {
				return false, fmt.Errorf("%s is %q, want %q", user, got[user].Membership, membership)
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// kickTime is when the bot's last membership change of user (a kick) reached the homeserver.
func kickTime(t *testing.T, hs *harness.Synapse, bot harness.User, room id.RoomID, user id.UserID) time.Time {
	t.Helper()
	events, err := hs.Messages(t.Context(), bot, room, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == string(user) && ev.Sender == bot.ID {
			return time.UnixMilli(ev.OriginServerTS)
		}
	}
	t.Fatalf("no membership event of %s sent by the bot in %s", user, room)
	return time.Time{}
}

// metricsHosts are the host addresses the metrics listener must answer on: loopback, and the
// first other IPv4 address of the host when it has one (a loopback-only listener would not).
func metricsHosts(t *testing.T) []string {
	hosts := []string{"127.0.0.1"}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Logf("no interface addresses (%v): checking loopback only", err)
		return hosts
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return append(hosts, ipn.IP.String())
		}
	}
	t.Log("the host has no IPv4 address besides loopback: checking loopback only")
	return hosts
}

func getOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func writeFile(t *testing.T, name, content string, mode os.FileMode, uid int) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(name, uid, uid); err != nil {
		t.Fatalf("chown %s to %d (the test runs as root, as make image-test does): %v", name, uid, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
