package integration

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// dockerCLI runs the real docker CLI against a test daemon.
type dockerCLI struct {
	t   *testing.T
	bin string
	env []string
}

// newDockerCLI returns a docker CLI pointed at d with an empty config
// directory, or skips the test if there is no docker on PATH.
func newDockerCLI(t *testing.T, d *daemon) *dockerCLI {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not on PATH")
	}
	return &dockerCLI{t: t, bin: bin, env: cleanEnv("DOCKER_HOST="+d.host(), "DOCKER_CONFIG="+t.TempDir())}
}

func (c *dockerCLI) run(args ...string) cliResult {
	c.t.Helper()
	return runCLI(c.t, c.env, c.bin, args...)
}

// ok runs the command and fails the test unless it exits 0.
func (c *dockerCLI) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.exitCode != 0 {
		c.t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestDockerCLIVersionInfo(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 4})
	docker := newDockerCLI(t, d)

	out := docker.ok("version")
	for _, want := range []string{"Client:", "Server:", "Engine:", "API version:", apiVersion} {
		if !strings.Contains(out, want) {
			t.Errorf("docker version output lacks %q:\n%s", want, out)
		}
	}
	if v := strings.TrimSpace(docker.ok("version", "--format", "{{.Server.APIVersion}}")); v != apiVersion {
		t.Errorf("docker version server API version %q, want %s", v, apiVersion)
	}

	out = docker.ok("info")
	for _, want := range []string{"Server Version", "Docker Root Dir: " + d.dataRoot, "Operating System", "Total Memory"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker info output lacks %q:\n%s", want, out)
		}
	}
	if v := strings.TrimSpace(docker.ok("info", "--format", "{{.ServerVersion}}")); v == "" || strings.Contains(v, "no value") {
		t.Errorf("docker info ServerVersion = %q", v)
	}
	// The CLI passes Berth's extra field through in its raw JSON.
	var raw map[string]any
	if err := json.Unmarshal([]byte(docker.ok("info", "--format", "{{json .}}")), &raw); err != nil {
		t.Fatalf("docker info --format json: %v", err)
	}
	if raw["DockerRootDir"] != d.dataRoot {
		t.Errorf("docker info DockerRootDir = %v, want %s", raw["DockerRootDir"], d.dataRoot)
	}
}

func TestDockerCLIVolumes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)

	if out := strings.TrimSpace(docker.ok("volume", "create", "web-data")); out != "web-data" {
		t.Errorf("docker volume create printed %q, want web-data", out)
	}
	docker.ok("volume", "create", "--label", "env=prod", "--label", "team", "db-data")
	anon := strings.TrimSpace(docker.ok("volume", "create"))
	if !hex64.MatchString(anon) {
		t.Errorf("anonymous volume name %q is not 64 hex digits", anon)
	}
	docker.ok("volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "tmp-data")

	out := docker.ok("volume", "ls")
	if !regexp.MustCompile(`(?m)^DRIVER\s+VOLUME NAME$`).MatchString(out) {
		t.Errorf("docker volume ls header missing:\n%s", out)
	}
	for _, n := range []string{"web-data", "db-data", "tmp-data", anon} {
		if !regexp.MustCompile(`(?m)^local\s+` + regexp.QuoteMeta(n) + `$`).MatchString(out) {
			t.Errorf("docker volume ls lacks local %s:\n%s", n, out)
		}
	}
	if got := lines(docker.ok("volume", "ls", "-q", "--filter", "name=web")); !sameSet(got, []string{"web-data"}) {
		t.Errorf("docker volume ls -q --filter name=web: %q", got)
	}
	if got := lines(docker.ok("volume", "ls", "-q", "--filter", "label=env=prod")); !sameSet(got, []string{"db-data"}) {
		t.Errorf("docker volume ls -q --filter label=env=prod: %q", got)
	}
	if got := lines(docker.ok("volume", "ls", "-q", "--filter", "dangling=true", "--filter", "driver=local")); len(got) != 4 {
		t.Errorf("docker volume ls -q --filter dangling=true: %q, want 4", got)
	}
	if got := lines(docker.ok("volume", "ls", "-q", "--filter", "name=nomatch")); len(got) != 0 {
		t.Errorf("docker volume ls -q --filter name=nomatch: %q, want none", got)
	}
	if got := lines(docker.ok("volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=^db")); !sameSet(got, []string{"db-data local"}) {
		t.Errorf("docker volume ls --format: %q", got)
	}

	var inspected []map[string]any
	if err := json.Unmarshal([]byte(docker.ok("volume", "inspect", "db-data", "web-data")), &inspected); err != nil {
		t.Fatalf("docker volume inspect: %v", err)
	}
	if len(inspected) != 2 || inspected[0]["Name"] != "db-data" || inspected[0]["Driver"] != "local" {
		t.Fatalf("docker volume inspect: %v", inspected)
	}
	if labels, _ := inspected[0]["Labels"].(map[string]any); labels["env"] != "prod" {
		t.Errorf("db-data labels %v", inspected[0]["Labels"])
	}
	mp := strings.TrimSpace(docker.ok("volume", "inspect", "--format", "{{.Mountpoint}}", "web-data"))
	if !strings.HasPrefix(mp, d.dataRoot+"/") {
		t.Errorf("web-data Mountpoint %q not under %s", mp, d.dataRoot)
	}
	r := docker.run("volume", "inspect", "nosuch")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "no such volume") {
		t.Errorf("docker volume inspect nosuch: %s", r)
	}

	if got := lines(docker.ok("volume", "rm", "web-data", "tmp-data")); !sameSet(got, []string{"web-data", "tmp-data"}) {
		t.Errorf("docker volume rm printed %q", got)
	}
	r = docker.run("volume", "rm", "web-data")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") || !strings.Contains(r.stderr, "no such volume") {
		t.Errorf("docker volume rm of a removed volume: %s", r)
	}
	docker.ok("volume", "rm", "-f", "web-data")

	// prune -f takes the anonymous volume only; -a takes the named too.
	out = docker.ok("volume", "prune", "-f")
	if !strings.Contains(out, anon) || strings.Contains(out, "db-data") || !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("docker volume prune -f:\n%s", out)
	}
	if got := lines(docker.ok("volume", "ls", "-q")); !sameSet(got, []string{"db-data"}) {
		t.Errorf("after prune: %q, want [db-data]", got)
	}
	out = docker.ok("volume", "prune", "-a", "-f", "--filter", "label=env=prod")
	if !strings.Contains(out, "db-data") {
		t.Errorf("docker volume prune -af:\n%s", out)
	}
	if got := lines(docker.ok("volume", "ls", "-q")); len(got) != 0 {
		t.Errorf("after prune -a: %q, want none", got)
	}

	// Bad inputs come back as the daemon's messages.
	r = docker.run("volume", "create", "--", "-bad")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") || !strings.Contains(r.stderr, "invalid characters") {
		t.Errorf("docker volume create -- -bad: %s", r)
	}
	r = docker.run("volume", "create", "a//b")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") || !strings.Contains(r.stderr, "invalid characters") {
		t.Errorf("docker volume create a//b: %s", r)
	}
	r = docker.run("volume", "create", "--driver", "nosuchdriver", "x")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "nosuchdriver") {
		t.Errorf("docker volume create --driver nosuchdriver: %s", r)
	}
}

func TestDockerCLIQuotaError(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 2})
	docker := newDockerCLI(t, d)
	docker.ok("volume", "create", "one")
	docker.ok("volume", "create")

	r := docker.run("volume", "create", "three")
	if r.exitCode != 1 {
		t.Errorf("docker volume create when full: exit %d, want 1", r.exitCode)
	}
	if want := "Error response from daemon: " + quotaMessage(2, 2); !strings.Contains(r.stderr, want) {
		t.Errorf("docker volume create when full: stderr %q, want it to contain %q", r.stderr, want)
	}
	if strings.TrimSpace(r.stdout) != "" {
		t.Errorf("docker volume create when full printed %q on stdout", r.stdout)
	}
	r = docker.run("volume", "create")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: volume quota exceeded: ") {
		t.Errorf("anonymous docker volume create when full: %s", r)
	}
	// An existing name is fine even when full.
	if out := strings.TrimSpace(docker.ok("volume", "create", "one")); out != "one" {
		t.Errorf("re-create printed %q", out)
	}
	// Pruning frees a slot.
	docker.ok("volume", "prune", "-f")
	docker.ok("volume", "create", "three")
	d.expectQuota(2, 2)
}
