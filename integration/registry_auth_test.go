package integration

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistryLoginAPI checks POST /auth against a registry with htpasswd
// basic auth: Docker's answers for good, wrong and missing credentials, an
// unreachable registry and bad requests.
func TestRegistryLoginAPI(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, map[string]string{"u": "p"})
	d := startDaemon(t, daemonOpts{})

	r := d.do("POST", "/v1.44/auth", map[string]string{"username": "u", "password": "p", "serveraddress": host})
	expectStatus(t, r, 200, "login")
	var ok map[string]any
	r.decode(t, &ok)
	if tok, has := ok["IdentityToken"]; ok["Status"] != "Login Succeeded" || !has || tok != "" {
		t.Errorf("login answer %s", r.body)
	}
	// Any spelling of the address the docker CLI may store.
	for _, addr := range []string{"http://" + host, "https://" + host + "/v2/"} {
		expectStatus(t, d.do("POST", "/v1.44/auth", map[string]string{"username": "u", "password": "p", "serveraddress": addr}), 200, "login to "+addr)
	}
	// The legacy "auth" field (base64 user:password).
	expectStatus(t, d.do("POST", "/v1.44/auth", map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("u:p")), "serveraddress": host}), 200, "login with auth")

	refused := "login attempt to http://" + host + "/v2/ failed with status: 401 Unauthorized"
	expectError(t, d.do("POST", "/v1.44/auth", map[string]string{"username": "u", "password": "wrong", "serveraddress": host}), 401, refused, "wrong password")
	expectError(t, d.do("POST", "/v1.44/auth", map[string]string{"serveraddress": host}), 401, refused, "no credentials")

	dead := freeAddr(t)
	expectError(t, d.do("POST", "/v1.44/auth", map[string]string{"username": "u", "password": "p", "serveraddress": dead}), 503, "connection refused", "unreachable registry")
	expectError(t, d.do("POST", "/v1.44/auth", `{"username":`), 400, "invalid JSON", "malformed body")
	expectError(t, d.do("POST", "/v1.44/auth", map[string]string{"username": "u", "password": "p", "serveraddress": "https://"}), 400, "names no registry host", "no host")
}

// TestRegistryLoginDockerCLI logs in with the docker CLI, which stores the
// credentials in its config.json and sends them with push and pull.
func TestRegistryLoginDockerCLI(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, map[string]string{"u": "p"})
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)

	r := docker.run("login", host, "-u", "u", "-p", "wrong")
	want := "Error response from daemon: login attempt to http://" + host + "/v2/ failed with status: 401 Unauthorized"
	if r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("docker login with a wrong password: %s\nwant %q", r, want)
	}
	if r := docker.run("login", freeAddr(t), "-u", "u", "-p", "p"); r.exitCode == 0 || !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("docker login to an unreachable registry: %s", r)
	}
	if out := docker.ok("login", host, "-u", "u", "-p", "p"); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login:\n%s", out)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, err := os.ReadFile(filepath.Join(docker.configDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Auths[host].Auth != base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Fatalf("config.json after login: %s (%v)", b, err)
	}

	// The CLI now sends the stored credentials: push and pull a private
	// repository.
	src := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(src, fixture(t, "busybox-docker-save.tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker.ok("load", "-i", src)
	ref := host + "/private/busybox:1"
	docker.ok("tag", "busybox", ref)
	if out := docker.ok("push", ref); !strings.Contains(out, "1: digest: sha256:") {
		t.Errorf("docker push after login:\n%s", out)
	}
	docker.ok("rmi", "-f", busyboxID)
	if out := docker.ok("pull", ref); !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("docker pull after login:\n%s", out)
	}

	// After logout they are gone, and the registry refuses the pull.
	docker.ok("logout", host)
	docker.ok("rmi", ref)
	if r := docker.run("pull", ref); r.exitCode == 0 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("docker pull after logout: %s", r)
	}
}

// configDir is the CLI's DOCKER_CONFIG directory.
func (c *dockerCLI) configDir() string {
	c.t.Helper()
	for _, kv := range c.env {
		if v, ok := strings.CutPrefix(kv, "DOCKER_CONFIG="); ok {
			return v
		}
	}
	c.t.Fatal("the docker CLI has no DOCKER_CONFIG")
	return ""
}

// TestRegistryLoginBerthCLI logs in and out with the berth CLI, which
// keeps the credentials where the docker CLI does and sends them with
// push and pull.
func TestRegistryLoginBerthCLI(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, map[string]string{"u": "p"})
	d := startDaemon(t, daemonOpts{})
	berth := newBerthCLI(t, d)
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	ref := host + "/private/busybox:1"
	berth.ok("tag", "busybox", ref)

	r := berth.run("login", host, "-u", "u", "-p", "wrong")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "login attempt to http://"+host+"/v2/ failed with status: 401 Unauthorized") {
		t.Fatalf("berth login with a wrong password: %s", r)
	}
	if r := berth.run("login", host, "-u", "u"); r.exitCode == 0 || !strings.Contains(r.stderr, "Cannot perform an interactive login from a non TTY device") {
		t.Errorf("berth login without a password or a terminal: %s", r)
	}
	if out := berth.ok("login", host, "-u", "u", "-p", "p"); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("berth login:\n%s", out)
	}
	// Stored: a bare login reuses them.
	if r := berth.run("login", host); r.exitCode != 0 || !strings.Contains(r.stdout, "Login Succeeded") || !strings.Contains(r.stderr, "Authenticating with existing credentials... [Username: u]") {
		t.Errorf("berth login with stored credentials: %s", r)
	}
	berth.ok("push", ref)
	berth.ok("rmi", "-f", busyboxID)
	if out := berth.ok("pull", ref); !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("berth pull after login:\n%s", out)
	}

	if out := berth.ok("logout", host); strings.TrimSpace(out) != "Removing login credentials for "+host {
		t.Errorf("berth logout: %q", out)
	}
	if out := berth.ok("logout", host); strings.TrimSpace(out) != "Not logged in to "+host {
		t.Errorf("second berth logout: %q", out)
	}
	berth.ok("rmi", ref)
	if r := berth.run("pull", ref); r.exitCode == 0 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("berth pull after logout: %s", r)
	}
}
