package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-engine/berth/internal/netnsdo"
)

// registryBin is Debian's docker-registry (Docker Distribution 2.x).
const registryBin = "/usr/bin/docker-registry"

// startRegistry runs a docker-registry on 127.0.0.1 with its storage in a
// temporary directory, with htpasswd basic auth when users are given
// (name → password), and returns its host:port. It is killed when the test
// ends. The test skips if the binary is missing.
func startRegistry(t *testing.T, users map[string]string) string {
	t.Helper()
	return startRegistryWith(t, registryOpts{users: users})
}

// registryOpts configure a docker-registry.
type registryOpts struct {
	// users enable htpasswd basic auth (name → password).
	users map[string]string
	// tls, if set, serves HTTPS with this certificate, and requires client
	// certificates signed by its clientCA when that is set.
	tls *registryTLS
	// netnsPid runs the registry in the network namespace of this process
	// (0: the test's), listening on addr, which is then required;
	// otherwise addr "" picks a free port on 127.0.0.1.
	netnsPid int
	addr     string
}

// registryTLS is a registry's server certificate and client CA (PEM files).
type registryTLS struct {
	cert, key, clientCA string
}

// startRegistryWith runs a docker-registry as opts say and returns its
// host:port once it accepts connections; it is killed when the test ends.
func startRegistryWith(t *testing.T, opts registryOpts) string {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("%s not available (apt-get install docker-registry): %v", registryBin, err)
	}
	dir := t.TempDir()
	host := opts.addr
	if host == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		host = l.Addr().String()
		l.Close()
	}

	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), host)
	if opts.tls != nil {
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", opts.tls.cert, opts.tls.key)
		if opts.tls.clientCA != "" {
			cfg += fmt.Sprintf("    clientcas:\n      - %s\n", opts.tls.clientCA)
		}
	}
	if len(opts.users) > 0 {
		var lines []string
		for u, p := range opts.users {
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, u+":"+string(h))
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "registry.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(registryBin, "serve", cfgPath)
	if opts.netnsPid != 0 {
		// nsenter execs the registry: the process is the registry's.
		cmd = exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", opts.netnsPid), registryBin, "serve", cfgPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting docker-registry: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("docker-registry log:\n%s", b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := dialIn(opts.netnsPid, host)
		if err == nil {
			return host
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("docker-registry exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not listen on %s within 15s (last error %v)", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dialIn connects to addr over TCP from the network namespace of process
// pid (0: this one's) and hangs up.
func dialIn(pid int, addr string) error {
	dial := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if pid == 0 {
		return dial()
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer ns.Close()
	return netnsdo.Do(ns, dial)
}

// registryAuth encodes X-Registry-Auth as the docker CLI does (base64url
// JSON).
func registryAuth(user, password, server string) string {
	b, _ := json.Marshal(map[string]string{"username": user, "password": password, "serveraddress": server})
	return base64.URLEncoding.EncodeToString(b)
}

// streamMessages decodes a JSON message stream.
type streamMsg struct {
	ID             string          `json:"id"`
	Status         string          `json:"status"`
	Aux            json.RawMessage `json:"aux"`
	ProgressDetail struct {
		Current, Total int64
	} `json:"progressDetail"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
}

func streamMessages(t testing.TB, body []byte) []streamMsg {
	t.Helper()
	var out []streamMsg
	dec := json.NewDecoder(bytes.NewReader(body))
	for dec.More() {
		var m streamMsg
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decoding stream %q: %v", body, err)
		}
		out = append(out, m)
	}
	return out
}

// statusLines renders the messages as "id: status" (or "status").
func statusLines(ms []streamMsg) []string {
	var out []string
	for _, m := range ms {
		switch {
		case m.ErrorDetail != nil:
			out = append(out, "error: "+m.ErrorDetail.Message)
		case m.Aux != nil:
			out = append(out, "aux: "+string(m.Aux))
		case m.ID != "":
			out = append(out, m.ID+": "+m.Status)
		default:
			out = append(out, m.Status)
		}
	}
	return out
}

// withAuth sends one request with an X-Registry-Auth header (none if "").
func (d *daemon) withAuth(method, path, auth string) *response {
	d.t.Helper()
	req, err := http.NewRequest(method, "http://berth"+path, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("X-Registry-Auth", auth)
	}
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	c2 := *c
	c2.Timeout = 2 * time.Minute
	resp, err := c2.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

// push pushes repo:tag through the API and returns the stream's lines,
// failing on an error in it.
func (d *daemon) push(t *testing.T, repo, tag, auth string) []string {
	t.Helper()
	r := d.withAuth("POST", "/v1.44/images/"+repo+"/push?tag="+url.QueryEscape(tag), auth)
	expectStatus(t, r, 200, "push "+repo+":"+tag)
	lines := statusLines(streamMessages(t, r.body))
	if msg := streamError(r.body); msg != "" {
		t.Fatalf("push %s:%s failed in the stream: %s\n%s", repo, tag, msg, strings.Join(lines, "\n"))
	}
	return lines
}

// pull pulls fromImage:tag through the API and returns the stream's lines.
func (d *daemon) pull(t *testing.T, fromImage, tag, auth string) []string {
	t.Helper()
	r := d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(fromImage)+"&tag="+url.QueryEscape(tag), auth)
	expectStatus(t, r, 200, "pull "+fromImage+":"+tag)
	lines := statusLines(streamMessages(t, r.body))
	if msg := streamError(r.body); msg != "" {
		t.Fatalf("pull %s:%s failed in the stream: %s\n%s", fromImage, tag, msg, strings.Join(lines, "\n"))
	}
	return lines
}

func expectLines(t *testing.T, what string, lines []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(lines, w) {
			t.Errorf("%s: no line %q in\n%s", what, w, strings.Join(lines, "\n"))
		}
	}
}

func TestDistributionPushPullAPI(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, nil)
	d := startDaemon(t, daemonOpts{})
	since := time.Now()
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	d.load(t, fixture(t, "layered-docker-save.tar"))
	repo := host + "/test/busybox"
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo="+url.QueryEscape(repo)+"&tag=1", nil), 201, "tag")
	layeredRepo := host + "/test/layered"
	expectStatus(t, d.do("POST", "/v1.44/images/fixture/layered:1.0/tag?repo="+url.QueryEscape(layeredRepo)+"&tag=1.0", nil), 201, "tag")

	// Push: the CLI sends X-Registry-Auth even when it has no credentials.
	empty := base64.URLEncoding.EncodeToString([]byte("{}"))
	lines := d.push(t, repo, "1", empty)
	short := busyboxDiffID[7:19]
	expectLines(t, "push", lines,
		"The push refers to repository ["+repo+"]",
		short+": Preparing", short+": Pushing", short+": Pushed")
	var digestLine string
	for _, l := range lines {
		if strings.HasPrefix(l, "1: digest: sha256:") {
			digestLine = l
		}
	}
	if digestLine == "" || !strings.HasPrefix(lines[len(lines)-1], `aux: {"Tag":"1","Digest":"sha256:`) {
		t.Fatalf("push did not end with the digest and aux:\n%s", strings.Join(lines, "\n"))
	}
	pushedDigest := strings.Fields(digestLine)[2]
	img := d.inspectImage(t, repo+":1")
	if !slices.Contains(img.RepoDigests, repo+"@"+pushedDigest) {
		t.Errorf("RepoDigests after push: %v, want %s@%s", img.RepoDigests, repo, pushedDigest)
	}
	// Again: nothing to upload.
	lines = d.push(t, repo, "1", empty)
	expectLines(t, "second push", lines, short+": Layer already exists")

	// The layered image shares busybox's layer: three layers, whiteouts.
	lines = d.push(t, layeredRepo, "1.0", "")
	expectLines(t, "push layered", lines, layeredDiffID3[7:19]+": Pushed")

	// Remove everything and pull back.
	expectStatus(t, d.do("DELETE", "/v1.44/images/"+layeredID+"?force=1", nil), 200, "rmi layered")
	expectStatus(t, d.do("DELETE", "/v1.44/images/"+busyboxID+"?force=1", nil), 200, "rmi busybox")
	if n := len(d.images(t, "?all=1")); n != 0 {
		t.Fatalf("%d images left after rmi", n)
	}
	lines = d.pull(t, repo, "1", "")
	expectLines(t, "pull", lines,
		"1: Pulling from test/busybox",
		"Digest: "+pushedDigest,
		"Status: Downloaded newer image for "+repo+":1")
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, ": Pull complete") }) {
		t.Errorf("pull has no Pull complete:\n%s", strings.Join(lines, "\n"))
	}
	img = d.inspectImage(t, repo+":1")
	if img.ID != busyboxID || fmt.Sprint(img.RootFS.Layers) != "["+busyboxDiffID+"]" {
		t.Fatalf("pulled image %s layers %v, want %s [%s]", img.ID, img.RootFS.Layers, busyboxID, busyboxDiffID)
	}
	if !slices.Contains(img.RepoDigests, repo+"@"+pushedDigest) || !slices.Contains(img.RepoTags, repo+":1") {
		t.Errorf("pulled image refs: tags %v digests %v", img.RepoTags, img.RepoDigests)
	}
	lines = d.pull(t, repo, "1", "")
	expectLines(t, "second pull", lines, "Status: Image is up to date for "+repo+":1")

	// The layered image: its busybox base is present already.
	lines = d.pull(t, layeredRepo, "1.0", "")
	var already int
	for _, l := range lines {
		if strings.HasSuffix(l, ": Already exists") {
			already++
		}
	}
	if already != 1 {
		t.Errorf("layered pull: %d layers already there, want 1:\n%s", already, strings.Join(lines, "\n"))
	}
	l := d.inspectImage(t, layeredRepo+":1.0")
	if l.ID != layeredID || len(l.RootFS.Layers) != 3 || l.RootFS.Layers[1] != layeredDiffID2 || l.RootFS.Layers[2] != layeredDiffID3 {
		t.Fatalf("pulled layered image %s %v", l.ID, l.RootFS.Layers)
	}

	// By digest, into a fresh daemon.
	other := startDaemon(t, daemonOpts{})
	lines = other.pull(t, repo, pushedDigest, "")
	expectLines(t, "pull by digest", lines, "Status: Downloaded newer image for "+repo+"@"+pushedDigest)
	if id := other.inspectImage(t, repo+"@"+pushedDigest).ID; id != busyboxID {
		t.Fatalf("pulled by digest: %s", id)
	}

	// Errors: Docker's words, before the stream begins.
	expectError(t, d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(repo)+"&tag=nope", ""), 404,
		"manifest for "+repo+":nope not found: manifest unknown: manifest unknown", "pull of a missing tag")
	expectError(t, d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(host+"/No/Such")+"&tag=1", ""), 400,
		"invalid reference format", "pull of a bad name")
	r := d.withAuth("POST", "/v1.44/images/"+host+"/test/nothere/push?tag=1", "")
	if msg := streamError(r.body); !strings.Contains(msg, "An image does not exist locally with the tag: "+host+"/test/nothere") {
		t.Errorf("push of a missing image: %s", r)
	}

	// Events: pull and push, named by reference.
	evs := describe(d.eventsBetween(since, time.Now(), map[string][]string{"type": {"image"}}))
	for _, want := range []string{"image push " + repo + ":1", "image pull " + repo + ":1", "image pull " + layeredRepo + ":1.0"} {
		if !slices.Contains(evs, want) {
			t.Errorf("no event %q in %v", want, evs)
		}
	}
}

func TestDistributionDockerCLI(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, nil)
	d := startDaemon(t, daemonOpts{})
	docker := newDockerCLI(t, d)
	src := filepath.Join(t.TempDir(), "busybox.tar")
	os.WriteFile(src, fixture(t, "busybox-docker-save.tar"), 0o644)
	docker.ok("load", "-i", src)
	ref := host + "/test/cli:1"
	docker.ok("tag", "busybox", ref)

	out := docker.ok("push", ref)
	if !strings.Contains(out, "The push refers to repository ["+host+"/test/cli]") || !strings.Contains(out, "Pushed") || !strings.Contains(out, "1: digest: sha256:") {
		t.Errorf("docker push:\n%s", out)
	}
	// By ID: the push left a digest reference, which keeps the image.
	docker.ok("rmi", "-f", busyboxID[7:19])
	if r := docker.run("image", "inspect", busyboxID); r.exitCode == 0 {
		t.Fatalf("image still there after rmi: %s", r)
	}
	out = docker.ok("pull", ref)
	if !strings.Contains(out, "1: Pulling from test/cli") || !strings.Contains(out, "Pull complete") ||
		!strings.Contains(out, "Status: Downloaded newer image for "+ref) || !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("docker pull:\n%s", out)
	}
	if id := strings.TrimSpace(docker.ok("image", "inspect", "-f", "{{.Id}}", ref)); id != busyboxID {
		t.Errorf("pulled ID %s, want %s", id, busyboxID)
	}
	out = docker.ok("pull", ref)
	if !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Errorf("second docker pull:\n%s", out)
	}
	if out := docker.ok("images", "--digests", host+"/test/cli"); !strings.Contains(out, "sha256:") {
		t.Errorf("docker images --digests:\n%s", out)
	}
	// Removing the repository's last tag takes its digest reference along,
	// so the image goes, as in Docker.
	out = docker.ok("rmi", ref)
	if !strings.Contains(out, "Untagged: "+ref) || !strings.Contains(out, "Untagged: "+host+"/test/cli@sha256:") || !strings.Contains(out, "Deleted: "+busyboxID) {
		t.Errorf("docker rmi of the last tag:\n%s", out)
	}

	missing := host + "/test/cli:nope"
	r := docker.run("pull", missing)
	want := "Error response from daemon: manifest for " + missing + " not found: manifest unknown: manifest unknown"
	if r.exitCode == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("docker pull of a missing tag: %s\nwant %q", r, want)
	}
}

func TestDistributionBasicAuth(t *testing.T) {
	t.Parallel()
	host := startRegistry(t, map[string]string{"alice": "s3cret"})
	d := startDaemon(t, daemonOpts{})
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	repo := host + "/private/busybox"
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo="+url.QueryEscape(repo)+"&tag=1", nil), 201, "tag")
	good := registryAuth("alice", "s3cret", host)

	// Without credentials the push fails in the stream.
	r := d.withAuth("POST", "/v1.44/images/"+repo+"/push?tag=1", "")
	if msg := streamError(r.body); !strings.Contains(msg, "unauthorized") {
		t.Fatalf("anonymous push: %s", r)
	}
	d.push(t, repo, "1", good)
	expectStatus(t, d.do("DELETE", "/v1.44/images/"+busyboxID+"?force=1", nil), 200, "rmi")

	// Without credentials, or with wrong ones, the pull is refused.
	r = d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(repo)+"&tag=1", "")
	if r.status == 200 || !strings.Contains(r.message(), "unauthorized") {
		t.Fatalf("anonymous pull: %s", r)
	}
	r = d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(repo)+"&tag=1", registryAuth("alice", "wrong", host))
	if r.status == 200 || !strings.Contains(r.message(), "unauthorized") {
		t.Fatalf("pull with a wrong password: %s", r)
	}
	// Padded or not, standard or URL alphabet: all decode.
	raw, _ := json.Marshal(map[string]string{"username": "alice", "password": "s3cret"})
	for i, auth := range []string{good, base64.RawURLEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw)} {
		lines := d.pull(t, repo, "1", auth)
		if i == 0 {
			expectLines(t, "pull with credentials", lines, "Status: Downloaded newer image for "+repo+":1")
		}
	}
	if id := d.inspectImage(t, repo+":1").ID; id != busyboxID {
		t.Fatalf("pulled %s", id)
	}
}

func TestDistributionInsecureRegistriesInfo(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{config: map[string]any{"insecure-registries": []string{"myreg.example:5000", "10.20.0.0/16"}}})
	info := d.info()
	rc := info.RegistryConfig
	if rc == nil {
		t.Fatal("no RegistryConfig")
	}
	var cidrs []string
	for _, c := range rc.InsecureRegistryCIDRs {
		cidrs = append(cidrs, c.String())
	}
	if !slices.Equal(cidrs, []string{"127.0.0.0/8", "::1/128", "10.20.0.0/16"}) {
		t.Errorf("InsecureRegistryCIDRs %v", cidrs)
	}
	if ix := rc.IndexConfigs["myreg.example:5000"]; ix == nil || ix.Secure || ix.Name != "myreg.example:5000" {
		t.Errorf("IndexConfigs %+v", rc.IndexConfigs)
	}
	if ix := rc.IndexConfigs["docker.io"]; ix == nil || !ix.Secure || !ix.Official {
		t.Errorf("docker.io index %+v", ix)
	}
	// A bad entry keeps the daemon from starting.
	bad := newDaemon(t, daemonOpts{config: map[string]any{"insecure-registries": []string{"http://x:5000"}}})
	if err := bad.startErr(); err == nil || !strings.Contains(bad.logContents(), "invalid insecure-registries entry") {
		t.Errorf("bad entry: %v\n%s", err, bad.logContents())
	}
}
