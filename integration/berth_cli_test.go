package integration

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// berthCLI runs the berth CLI against a test daemon with -H.
type berthCLI struct {
	t    *testing.T
	host string
	env  []string
}

// newBerthCLI returns the berth CLI for d, or skips the test if it did not
// build.
func newBerthCLI(t *testing.T, d *daemon) *berthCLI {
	t.Helper()
	if berthErr != nil {
		t.Skipf("berth CLI unavailable: %v", berthErr)
	}
	return &berthCLI{t: t, host: d.host(), env: cleanEnv("HOME=" + t.TempDir())}
}

func (c *berthCLI) run(args ...string) cliResult {
	c.t.Helper()
	return runCLI(c.t, c.env, berthBin, append([]string{"-H", c.host}, args...)...)
}

func (c *berthCLI) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.exitCode != 0 {
		c.t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

func TestBerthCLIVersionInfo(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 3})
	berth := newBerthCLI(t, d)
	d.createVolume("one", nil)

	out := berth.ok("version")
	for _, want := range []string{"Client:", "Server:", "API version:", apiVersion} {
		if !strings.Contains(out, want) {
			t.Errorf("berth version output lacks %q:\n%s", want, out)
		}
	}
	out = berth.ok("info")
	if !strings.Contains(out, "Server Version") {
		t.Errorf("berth info lacks Server Version:\n%s", out)
	}
	if !strings.Contains(out, d.dataRoot) {
		t.Errorf("berth info does not show the data root %s:\n%s", d.dataRoot, out)
	}
	// The quota: 1 volume in use of 3.
	if !regexp.MustCompile(`(?mi)^.*quota.*\b1\b.*\b3\b.*$`).MatchString(out) {
		t.Errorf("berth info does not show the quota (1 of 3):\n%s", out)
	}
}

func TestBerthCLIVolumes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	berth := newBerthCLI(t, d)

	if out := strings.TrimSpace(berth.ok("volume", "create", "x")); out != "x" {
		t.Errorf("berth volume create x printed %q", out)
	}
	berth.ok("volume", "create", "--label", "env=prod", "labelled")
	anon := strings.TrimSpace(berth.ok("volume", "create"))
	if !hex64.MatchString(anon) {
		t.Errorf("anonymous volume name %q is not 64 hex digits", anon)
	}

	out := berth.ok("volume", "ls")
	if !regexp.MustCompile(`(?m)^DRIVER\s+VOLUME NAME$`).MatchString(out) {
		t.Errorf("berth volume ls header missing:\n%s", out)
	}
	for _, n := range []string{"x", "labelled", anon} {
		if !regexp.MustCompile(`(?m)^local\s+` + regexp.QuoteMeta(n) + `$`).MatchString(out) {
			t.Errorf("berth volume ls lacks local %s:\n%s", n, out)
		}
	}
	if got := lines(berth.ok("volume", "ls", "-q", "--filter", "name=^x$")); !sameSet(got, []string{"x"}) {
		t.Errorf("berth volume ls -q --filter name=^x$: %q", got)
	}
	if got := lines(berth.ok("volume", "ls", "-q", "--filter", "label=env=prod")); !sameSet(got, []string{"labelled"}) {
		t.Errorf("berth volume ls -q --filter label=env=prod: %q", got)
	}

	var inspected []map[string]any
	if err := json.Unmarshal([]byte(berth.ok("volume", "inspect", "x")), &inspected); err != nil {
		t.Fatalf("berth volume inspect: %v", err)
	}
	if len(inspected) != 1 || inspected[0]["Name"] != "x" || inspected[0]["Driver"] != "local" {
		t.Errorf("berth volume inspect x: %v", inspected)
	}
	if mp, _ := inspected[0]["Mountpoint"].(string); !strings.HasPrefix(mp, d.dataRoot+"/") {
		t.Errorf("Mountpoint %q not under %s", mp, d.dataRoot)
	}
	r := berth.run("volume", "inspect", "nosuch")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") || !strings.Contains(r.stderr, "no such volume") {
		t.Errorf("berth volume inspect nosuch: %s", r)
	}

	if out := strings.TrimSpace(berth.ok("volume", "rm", "x")); out != "x" {
		t.Errorf("berth volume rm x printed %q", out)
	}
	r = berth.run("volume", "rm", "x")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "no such volume") {
		t.Errorf("berth volume rm of a removed volume: %s", r)
	}
	berth.ok("volume", "rm", "-f", "x")

	out = berth.ok("volume", "prune", "-f")
	if !strings.Contains(out, anon) || strings.Contains(out, "labelled") || !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("berth volume prune -f:\n%s", out)
	}
	if got := lines(berth.ok("volume", "ls", "-q")); !sameSet(got, []string{"labelled"}) {
		t.Errorf("after prune: %q, want [labelled]", got)
	}
	out = berth.ok("volume", "prune", "-a", "-f")
	if !strings.Contains(out, "labelled") {
		t.Errorf("berth volume prune -a -f:\n%s", out)
	}
	if got := lines(berth.ok("volume", "ls", "-q")); len(got) != 0 {
		t.Errorf("after prune -a: %q, want none", got)
	}

	r = berth.run("volume", "create", "a//b")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") || !strings.Contains(r.stderr, "invalid characters") {
		t.Errorf("berth volume create a//b: %s", r)
	}
}

func TestBerthCLIHostFromEnv(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	if berthErr != nil {
		t.Skipf("berth CLI unavailable: %v", berthErr)
	}
	d.createVolume("from-env", nil)
	r := runCLI(t, cleanEnv("HOME="+t.TempDir(), "BERTH_HOST="+d.host()), berthBin, "volume", "ls", "-q")
	if r.exitCode != 0 || !sameSet(lines(r.stdout), []string{"from-env"}) {
		t.Errorf("BERTH_HOST=%s berth volume ls -q: %s", d.host(), r)
	}
}

func TestBerthCLIQuotaError(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 1})
	berth := newBerthCLI(t, d)
	berth.ok("volume", "create", "only")

	r := berth.run("volume", "create", "second")
	if r.exitCode != 1 {
		t.Errorf("berth volume create when full: exit %d, want 1", r.exitCode)
	}
	if want := "Error response from daemon: " + quotaMessage(1, 1); !strings.Contains(r.stderr, want) {
		t.Errorf("berth volume create when full: stderr %q, want it to contain %q", r.stderr, want)
	}
	if strings.TrimSpace(r.stdout) != "" {
		t.Errorf("berth volume create when full printed %q on stdout", r.stdout)
	}
	r = berth.run("volume", "create")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: volume quota exceeded: ") {
		t.Errorf("anonymous berth volume create when full: %s", r)
	}
	if out := strings.TrimSpace(berth.ok("volume", "create", "only")); out != "only" {
		t.Errorf("re-create when full printed %q", out)
	}
	berth.ok("volume", "rm", "only")
	berth.ok("volume", "create", "second")
	d.expectQuota(1, 1)
}
