package examples

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeIsHardened keeps the shipped Compose example locked down.
func TestComposeIsHardened(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			User        string            `yaml:"user"`
			ReadOnly    bool              `yaml:"read_only"`
			CapDrop     []string          `yaml:"cap_drop"`
			SecurityOpt []string          `yaml:"security_opt"`
			Tmpfs       []string          `yaml:"tmpfs"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	svc, ok := doc.Services["authentik-matrix-sync"]
	if !ok {
		t.Fatal("no authentik-matrix-sync service")
	}
	if uid, _, _ := strings.Cut(svc.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("user %q, want a non-root user", svc.User)
	}
	if !svc.ReadOnly {
		t.Error("read_only is not set")
	}
	if !slices.Contains(svc.CapDrop, "ALL") {
		t.Errorf("cap_drop %v, want ALL", svc.CapDrop)
	}
	if !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("security_opt %v, want no-new-privileges:true", svc.SecurityOpt)
	}
	if len(svc.Tmpfs) == 0 || !strings.HasPrefix(svc.Tmpfs[0], "/tmp") {
		t.Errorf("tmpfs %v, want /tmp", svc.Tmpfs)
	}
	for k, v := range svc.Environment {
		if strings.Contains(k, "TOKEN") && !strings.HasSuffix(k, "_FILE") {
			t.Errorf("%s=%s: secrets belong in *_FILE variables", k, v)
		}
	}
}

// TestDockerfileIsHardened checks the image: the final stage runs as a non-root user and carries a
// pg_dump recent enough for PostgreSQL 18, the current major (pg_dump refuses newer servers).
func TestDockerfileIsHardened(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(data), "\nFROM ")
	final := stages[len(stages)-1]
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(final)
	if user == nil {
		t.Fatal("the final stage has no USER: it would run as root")
	}
	if uid, _, _ := strings.Cut(user[1], ":"); uid == "0" || uid == "root" {
		t.Errorf("USER %s, want non-root", user[1])
	}
	pg := regexp.MustCompile(`postgresql(\d+)-client`).FindStringSubmatch(final)
	if pg == nil {
		t.Fatal("the final stage installs no PostgreSQL client: Postgres backups would fail")
	}
	if major, _ := strconv.Atoi(pg[1]); major < 18 {
		t.Errorf("pg_dump %d cannot dump PostgreSQL 18 servers", major)
	}
	if strings.Contains(final, "crashpoints") {
		t.Error("the image is built with the crash-point hooks")
	}
}
