// Package integration runs berthd as a real process and talks to it the way
// its clients do: raw HTTP over its unix socket, the docker CLI, the berth CLI
// and the Docker Go SDK.
//
// TestMain builds ./cmd/berthd and ./cmd/berth once (or takes prebuilt
// binaries from BERTHD_BIN and BERTH_BIN). Every test starts its own berthd
// with every path (socket, data root, exec root, pidfile, config file) in a
// temporary directory, and stops it (SIGTERM, then SIGKILL after 10s) when it
// ends. Nothing here touches /run/berth.sock or /var/lib/berth.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// apiVersion is the newest API version berthd serves.
const apiVersion = "1.44"

// Binaries under test, set by TestMain.
var (
	berthdBin string
	berthBin  string
	// berthErr is why the berth CLI is unavailable (its tests skip).
	berthErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir, err := os.MkdirTemp("", "berth-integration-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(binDir)

	var wg sync.WaitGroup
	var berthdErr, shimErr error
	berthdBin, berthBin = binFromEnv("BERTHD_BIN"), binFromEnv("BERTH_BIN")
	if berthdBin == "" {
		berthdBin = filepath.Join(binDir, "berthd")
		wg.Go(func() { berthdErr = goBuild(berthdBin, "github.com/berth-engine/berth/cmd/berthd") })
		// berthd runs containers through berth-shim, found beside it.
		wg.Go(func() {
			shimErr = goBuild(filepath.Join(binDir, "berth-shim"), "github.com/berth-engine/berth/cmd/berth-shim", "CGO_ENABLED=1", "-tags", "seccomp")
		})
	}
	if berthBin == "" {
		berthBin = filepath.Join(binDir, "berth")
		wg.Go(func() { berthErr = goBuild(berthBin, "github.com/berth-engine/berth/cmd/berth") })
	}
	wg.Wait()
	if err := errors.Join(berthdErr, shimErr); err != nil {
		fmt.Fprintln(os.Stderr, "integration: building berthd:", err)
		return 1
	}
	if _, err := os.Stat(berthdBin); err != nil {
		fmt.Fprintln(os.Stderr, "integration: berthd binary:", err)
		return 1
	}
	if berthErr == nil {
		if _, err := os.Stat(berthBin); err != nil {
			berthErr = err
		}
	}
	before := hostNetworkState()
	code := m.Run()
	if after := hostNetworkState(); after != before {
		fmt.Fprintf(os.Stderr, "integration: the tests changed the host's network state\nbefore:\n%s\nafter:\n%s\n", before, after)
		return 1
	}
	return code
}

// hostNetworkState is what tests must leave as they found it in the host's
// network namespace: its links, its nftables tables and ip_forward.
// Networking tests run their berthd in a namespace of its own.
func hostNetworkState() string {
	var b strings.Builder
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			b.WriteString(strings.TrimSuffix(f[1], ":") + " ")
		}
	}
	tables, _ := exec.Command("nft", "list", "tables").Output()
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	fmt.Fprintf(&b, "\ntables: %s\nip_forward: %s", strings.TrimSpace(string(tables)), strings.TrimSpace(string(fwd)))
	return b.String()
}

// binFromEnv reads a prebuilt binary's path from the environment. A relative
// path is taken from the module root (where make runs) unless it exists from
// here (the package directory, where go test runs).
func binFromEnv(key string) string {
	p := os.Getenv(key)
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join("..", p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

// goBuild builds pkg into out; extra holds environment settings (K=V)
// and then build flags.
func goBuild(out, pkg string, extra ...string) error {
	var env, flags []string
	for _, e := range extra {
		if strings.Contains(e, "=") && len(flags) == 0 {
			env = append(env, e)
		} else {
			flags = append(flags, e)
		}
	}
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, buf.String())
	}
	return nil
}

// daemonOpts configures a berthd.
type daemonOpts struct {
	// maxVolumes is passed as --max-volumes when > 0.
	maxVolumes int
	// config is written to daemon.json before the start ({} when nil).
	config map[string]any
	// args are extra command-line arguments.
	args []string
	// network runs berthd in a network namespace of its own (loopback up),
	// with its default bridge, firewall table and ip_forward there, so that
	// tests of networking neither touch the host's nor each other's. Other
	// daemons run in the host's namespace with networking off (--bridge
	// none --iptables=false --ip-forward=false).
	network bool
	// cgroup2 runs berthd on a cgroup v2 hierarchy: on a v1 (hybrid) host,
	// in a mount namespace of its own where the host's cgroup2 mount
	// (/sys/fs/cgroup/unified) is bound over /sys/fs/cgroup. See
	// cgroup2Available.
	cgroup2 bool
	// bin is the berthd binary to run instead of the one built for the
	// suite, and path the PATH it runs with (the test's when empty).
	bin, path string
}

// daemon is one berthd process (and its successors after a restart) with
// its temporary directories.
type daemon struct {
	t    testing.TB
	opts daemonOpts

	dir        string
	sock       string
	dataRoot   string
	execRoot   string
	pidfile    string
	configFile string
	logFile    string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	client *http.Client
	// netns is the network namespace of a daemonOpts.network berthd, kept
	// open across its restarts so that its successors run in it too (live
	// restore keeps containers' veths, rules and ports there).
	netns *os.File
}

// startDaemon starts a berthd for t and registers its stop.
func startDaemon(t testing.TB, opts daemonOpts) *daemon {
	t.Helper()
	d := newDaemon(t, opts)
	d.start()
	return d
}

// newDaemon prepares a berthd's directories without starting it.
func newDaemon(t testing.TB, opts daemonOpts) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		t:          t,
		opts:       opts,
		dir:        dir,
		sock:       filepath.Join(dir, "berth.sock"),
		dataRoot:   filepath.Join(dir, "root"),
		execRoot:   filepath.Join(dir, "exec"),
		pidfile:    filepath.Join(dir, "berthd.pid"),
		configFile: filepath.Join(dir, "daemon.json"),
		logFile:    filepath.Join(dir, "berthd.log"),
	}
	// A unix socket path must fit in sun_path (108 bytes).
	if len(d.sock) > 100 {
		short, err := os.MkdirTemp("", "bt")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(short) })
		d.sock = filepath.Join(short, "berth.sock")
	}
	// berthd, like dockerd, refuses to start when an explicitly given
	// --config-file does not exist, so there is always one ({} by default).
	if opts.config == nil {
		opts.config = map[string]any{}
	}
	d.writeConfig(opts.config)
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			d.dumpLog()
		}
	})
	return d
}

func (d *daemon) host() string { return "unix://" + d.sock }

// args is berthd's command line.
func (d *daemon) args() []string {
	args := []string{
		"--host", d.host(),
		"--data-root", d.dataRoot,
		"--exec-root", d.execRoot,
		"--pidfile", d.pidfile,
		"--config-file", d.configFile,
	}
	if d.opts.maxVolumes > 0 {
		args = append(args, "--max-volumes", strconv.Itoa(d.opts.maxVolumes))
	}
	if !d.opts.network && !d.configures("bridge") {
		args = append(args, "--bridge", "none", "--iptables=false", "--ip-forward=false")
	}
	return append(args, d.opts.args...)
}

// configures reports whether the test sets key itself, as a flag or in
// daemon.json.
func (d *daemon) configures(key string) bool {
	if _, ok := d.opts.config[key]; ok {
		return true
	}
	for _, a := range d.opts.args {
		if a == "--"+key || strings.HasPrefix(a, "--"+key+"=") || (key == "bridge" && a == "-b") {
			return true
		}
	}
	return false
}

// start runs berthd and waits until it answers GET /_ping.
func (d *daemon) start() {
	d.t.Helper()
	if err := d.startErr(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) startErr() error {
	d.mu.Lock()
	if d.cmd != nil {
		d.mu.Unlock()
		return errors.New("berthd already running")
	}
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	fmt.Fprintf(logf, "=== %s berthd %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(d.args(), " "))
	bin := berthdBin
	if d.opts.bin != "" {
		bin = d.opts.bin
	}
	cmd := exec.Command(bin, d.args()...)
	if d.opts.cgroup2 && !hostIsCgroup2() {
		// unshare and sh exec berthd in the same process.
		cmd = exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c",
			`mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$0" "$@"`, bin}, d.args()...)...)
	}
	if d.netns != nil {
		// A restart: nsenter enters the first berthd's namespace (passed
		// as fd 3) and execs berthd in the same process.
		cmd = exec.Command("nsenter", append([]string{"--net=/proc/self/fd/3", bin}, d.args()...)...)
		cmd.ExtraFiles = []*os.File{d.netns}
	}
	if d.opts.path != "" {
		cmd.Env = append(os.Environ(), "PATH="+d.opts.path)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that SIGKILL reaches any child it starts.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if d.opts.network && d.netns == nil {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		d.mu.Unlock()
		return fmt.Errorf("starting berthd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	d.cmd, d.done = cmd, done
	d.client = unixClient(d.sock)
	d.mu.Unlock()
	if d.opts.network && d.netns == nil {
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
		if err != nil {
			return fmt.Errorf("opening berthd's network namespace: %w", err)
		}
		d.mu.Lock()
		d.netns = ns
		d.mu.Unlock()
		d.t.Cleanup(func() { ns.Close() })
		if out, err := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", cmd.Process.Pid), "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			return fmt.Errorf("bringing up lo in berthd's network namespace: %v: %s", err, out)
		}
	}
	return d.waitReady(done)
}

// waitReady polls GET /_ping until it answers 200, the process exits, or 30s
// pass.
func (d *daemon) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := d.request(ctx, http.MethodGet, "/_ping", nil)
		cancel()
		if err == nil && r.status == http.StatusOK {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("berthd exited before answering /_ping:\n%s", d.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("berthd did not answer /_ping within 30s (last error %v):\n%s", err, d.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running returns the current process and its exit channel, or nil.
func (d *daemon) running() (*exec.Cmd, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd, d.done
}

// stop sends SIGTERM and waits up to 10s for the exit, then SIGKILLs the
// process group. It returns the exit state (nil if nothing was running).
func (d *daemon) stop() *os.ProcessState {
	cmd, done := d.running()
	if cmd == nil {
		return nil
	}
	select {
	case <-done: // already gone (it failed to start, or was killed)
		return d.forget()
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("berthd (pid %d) did not exit within 10s of SIGTERM; killing it", cmd.Process.Pid)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	// Whatever it left in its group goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return d.forget()
}

// kill SIGKILLs berthd's process group and waits for the exit.
func (d *daemon) kill() {
	cmd, done := d.running()
	if cmd == nil {
		return
	}
	select {
	case <-done:
	default:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	d.forget()
}

func (d *daemon) forget() *os.ProcessState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.cmd.ProcessState
	d.client.CloseIdleConnections()
	d.cmd, d.done = nil, nil
	return st
}

// signal sends sig to the running berthd.
func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	cmd, _ := d.running()
	if cmd == nil {
		d.t.Fatal("berthd is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signalling berthd: %v", err)
	}
}

func (d *daemon) writeConfig(cfg map[string]any) {
	d.t.Helper()
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		d.t.Fatal(err)
	}
	d.writeConfigRaw(b)
}

// writeConfigRaw replaces daemon.json atomically.
func (d *daemon) writeConfigRaw(b []byte) {
	d.t.Helper()
	tmp := d.configFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.configFile); err != nil {
		d.t.Fatal(err)
	}
}

// logContents is everything berthd has written to stdout and stderr.
func (d *daemon) logContents() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// logTail is the end of berthd's output, for failure messages.
func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.logFile)
	const max = 8 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

func (d *daemon) dumpLog() {
	d.t.Logf("berthd log (%s):\n%s", d.logFile, d.logTail())
}

// unixClient is an HTTP client whose every connection goes to sock.
func unixClient(sock string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", sock)
		},
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr}
}

// response is an API answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v.
func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %d response %q: %v", r.status, r.body, err)
	}
}

// message is the "message" of an error body ("" if there is none).
func (r *response) message() string {
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Message
}

func (r *response) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// request sends one API request. body is sent as is when it is a string or
// []byte, as JSON otherwise, and not at all when nil.
func (d *daemon) request(ctx context.Context, method, path string, body any) (*response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://berth"+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// do sends one API request and fails the test if it gets no answer.
func (d *daemon) do(method, path string, body any) *response {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := d.request(ctx, method, path, body)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// expectStatus fails the test unless r has the status.
func expectStatus(t testing.TB, r *response, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
}

// expectError checks an error answer: the status, a JSON body with a
// non-empty message, which contains want.
func expectError(t testing.TB, r *response, status int, want, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: got %s, want status %d", what, r, status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error Content-Type = %q, want application/json", what, ct)
	}
	var e map[string]any
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("%s: error body %q is not JSON: %v", what, r.body, err)
	}
	msg := r.message()
	if msg == "" {
		t.Fatalf("%s: error body %q has no message", what, r.body)
	}
	if !strings.Contains(msg, want) {
		t.Fatalf("%s: message %q does not contain %q", what, msg, want)
	}
}

// filtersQuery encodes filters as the ?filters= value of the current form.
func filtersQuery(f map[string][]string) string {
	m := map[string]map[string]bool{}
	for k, vs := range f {
		m[k] = map[string]bool{}
		for _, v := range vs {
			m[k][v] = true
		}
	}
	b, _ := json.Marshal(m)
	return "filters=" + url.QueryEscape(string(b))
}

// createVolume creates a volume (name "" for an anonymous one), expecting 201.
func (d *daemon) createVolume(name string, labels map[string]string) volume.Volume {
	d.t.Helper()
	r := d.do(http.MethodPost, "/volumes/create", volume.CreateRequest{Name: name, Labels: labels})
	expectStatus(d.t, r, http.StatusCreated, "create volume "+name)
	var v volume.Volume
	r.decode(d.t, &v)
	return v
}

// listVolumes lists volumes with an optional raw query (e.g. filtersQuery).
func (d *daemon) listVolumes(query string) []volume.Volume {
	d.t.Helper()
	path := "/volumes"
	if query != "" {
		path += "?" + query
	}
	r := d.do(http.MethodGet, path, nil)
	expectStatus(d.t, r, http.StatusOK, "GET "+path)
	var l volume.ListResponse
	r.decode(d.t, &l)
	return l.Volumes
}

func (d *daemon) volumeNames(query string) []string {
	d.t.Helper()
	var names []string
	for _, v := range d.listVolumes(query) {
		names = append(names, v.Name)
	}
	return names
}

// infoResponse is GET /info: Docker's fields plus Berth's VolumeQuota.
type infoResponse struct {
	system.Info
	VolumeQuota *volumeQuota `json:"VolumeQuota"`
}

type volumeQuota struct {
	MaxVolumes int `json:"MaxVolumes"`
	Volumes    int `json:"Volumes"`
}

func (d *daemon) info() infoResponse {
	d.t.Helper()
	r := d.do(http.MethodGet, "/info", nil)
	expectStatus(d.t, r, http.StatusOK, "GET /info")
	var info infoResponse
	r.decode(d.t, &info)
	if info.VolumeQuota == nil {
		d.t.Fatalf("GET /info has no VolumeQuota: %s", r.body)
	}
	return info
}

// quota returns GET /info's VolumeQuota.
func (d *daemon) quota() volumeQuota {
	d.t.Helper()
	return *d.info().VolumeQuota
}

// expectQuota checks the quota /info reports and that it agrees with the
// volume list.
func (d *daemon) expectQuota(max, volumes int) {
	d.t.Helper()
	q := d.quota()
	if q.MaxVolumes != max || q.Volumes != volumes {
		d.t.Fatalf("VolumeQuota = %+v, want {MaxVolumes:%d Volumes:%d}", q, max, volumes)
	}
	if n := len(d.listVolumes("")); n != volumes {
		d.t.Fatalf("GET /volumes lists %d volumes, /info counts %d", n, volumes)
	}
}

// quotaMessage is the exact refusal of a create when the quota is full.
func quotaMessage(inUse, max int) string {
	return fmt.Sprintf("volume quota exceeded: %d of %d volumes in use (max-volumes=%d); remove unused volumes with 'docker volume prune'", inUse, max, max)
}

// waitFor polls cond every 20ms until it holds or timeout passes.
// copyExecutable copies the program src to a temporary directory of the
// test, under name, and returns its path (for a test that removes it or
// runs it from elsewhere). install(1) writes it, not this process: a fork
// by a parallel test would inherit the file open for writing for a moment,
// and running the copy would then fail with "text file busy".
func copyExecutable(t testing.TB, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("install", "-m", "0755", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v: %s", src, err, out)
	}
	return dst
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanEnv is the environment without the variables that would point a
// docker or berth CLI elsewhere than the test's daemon.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
			"DOCKER_API_VERSION", "BERTH_HOST", "BERTH_CONFIG", "BERTH_API_VERSION":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// cliResult is the outcome of one CLI run.
type cliResult struct {
	stdout, stderr string
	exitCode       int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.exitCode, r.stdout, r.stderr)
}

// runCLI runs a command with env and a 60s limit.
func runCLI(t testing.TB, env []string, bin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.exitCode = ee.ExitCode()
	default:
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within 60s", bin, args)
	}
	return res
}
