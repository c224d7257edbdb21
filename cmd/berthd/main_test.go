package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run the real binary, built once by TestMain, each daemon on
// its own temp data root, exec root, pidfile, socket and config file.

var berthd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berthd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthd = filepath.Join(dir, "berthd")
	out, err := exec.Command("go", "build", "-o", berthd, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building berthd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one berthd under test.
type proc struct {
	t                                    *testing.T
	cmd                                  *exec.Cmd
	dir, sock, pidfile, dataRoot, config string
	log                                  *syncBuffer
	done                                 chan struct{}
}

// newProc lays out a berthd's files in dir, with an empty daemon.json.
func newProc(t *testing.T, dir string) *proc {
	p := &proc{
		t:        t,
		dir:      dir,
		sock:     filepath.Join(dir, "berth.sock"),
		pidfile:  filepath.Join(dir, "berthd.pid"),
		dataRoot: filepath.Join(dir, "data"),
		config:   filepath.Join(dir, "daemon.json"),
		log:      &syncBuffer{},
		done:     make(chan struct{}),
	}
	p.writeConfig("{}")
	return p
}

func (p *proc) args(extra ...string) []string {
	return append([]string{
		"-H", "unix://" + p.sock,
		"--data-root", p.dataRoot,
		"--exec-root", filepath.Join(p.dir, "exec"),
		"--pidfile", p.pidfile,
		// Networking off: these tests are about the daemon's life, and
		// must not create a bridge or firewall table on the host.
		"--bridge", "none", "--iptables=false", "--ip-forward=false",
		"--config-file", p.config,
	}, extra...)
}

// start launches berthd with args (see args) and waits for /_ping.
func (p *proc) start(args ...string) *proc {
	p.startNoWait(exec.Command(berthd, args...))
	p.waitPing(p.sock)
	return p
}

func (p *proc) startNoWait(cmd *exec.Cmd) {
	t := p.t
	t.Helper()
	p.cmd = cmd
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("berthd log:\n%s", p.log)
		}
	})
}

func (p *proc) waitPing(sock string) {
	t := p.t
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("berthd exited: %v\n%s", p.cmd.ProcessState, p.log)
		default:
		}
		if resp, err := client(sock).Get("http://berth/_ping"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("berthd did not answer /_ping\n%s", p.log)
}

// wait waits for berthd to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("berthd did not exit\n%s", p.log)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) signal(s os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

func (p *proc) writeConfig(content string) {
	p.t.Helper()
	if err := os.WriteFile(p.config, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// waitLog waits for the n-th log line containing s (n counts from 1).
func (p *proc) waitLog(s string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.log.String(), s) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Fatalf("no log %q (#%d) in\n%s", s, n, p.log)
}

type info struct {
	Debug       bool
	Labels      []string
	VolumeQuota struct{ MaxVolumes int }
}

func (p *proc) info() info {
	p.t.Helper()
	resp, err := client(p.sock).Get("http://berth/info")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var i info
	if err := json.NewDecoder(resp.Body).Decode(&i); err != nil {
		p.t.Fatal(err)
	}
	return i
}

func client(sock string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", sock)
			},
		},
	}
}

// runFail runs berthd expecting a quick failed start and returns stderr.
func runFail(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, berthd, args...)
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("berthd %v: err = %v, want exit status 1\n%s", args, err, &stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("failing took %v", d)
	}
	return stderr.String()
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(berthd, "--version").CombinedOutput()
	if err != nil || string(out) != "Berth version 0.1.0-dev, build unknown\n" {
		t.Fatalf("berthd --version: %q, %v", out, err)
	}
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		name   string
		config string // "" = an empty object
		args   []string
		want   string
		noFile bool // pass --config-file naming a missing file
	}{
		{
			name:   "flag and file",
			config: `{"max-volumes": 10}`,
			args:   []string{"--max-volumes", "5"},
			want:   "the following directives are specified both as a flag and in the configuration file: max-volumes: (from flag: 5, from file: 10)\n",
		},
		{
			name:   "unknown key",
			config: `{"foo": true}`,
			want:   "the following directives don't match any configuration option: foo\n",
		},
		{name: "malformed", config: `{"debug": tru}`, want: "daemon.json: malformed JSON: invalid character"},
		{name: "explicit missing file", noFile: true, want: "reading configuration file: open "},
		{name: "negative max-volumes", args: []string{"--max-volumes=-1"}, want: "invalid max-volumes -1"},
		{name: "bad log-level", config: `{"log-level": "loud"}`, want: `invalid log-level "loud"`},
		{name: "bad host", args: []string{"-H", "localhost:2375"}, want: `invalid host "localhost:2375"`},
		{name: "tcp without insecure-tcp", args: []string{"-H", "tcp://127.0.0.1:0"}, want: "refusing to listen on tcp://127.0.0.1:0"},
		{name: "chosen group missing", args: []string{"--group", "berth-test-no-such-group"}, want: `socket group "berth-test-no-such-group" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProc(t, t.TempDir())
			if tt.config != "" {
				p.writeConfig(tt.config)
			}
			if tt.noFile {
				os.Remove(p.config)
			}
			stderr := runFail(t, p.args(tt.args...)...)
			if !strings.HasPrefix(stderr, "berthd: ") || !strings.Contains(stderr, tt.want) {
				t.Fatalf("stderr %q, want it to contain %q", stderr, tt.want)
			}
			for _, f := range []string{p.sock, p.pidfile} {
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind by a failed start: %v", f, err)
				}
			}
		})
	}
}

// The default config file is optional; berthd must start without one.
func TestStartWithoutConfigFile(t *testing.T) {
	p := newProc(t, t.TempDir())
	args := p.args()
	args = args[:len(args)-2] // drop --config-file: the default path
	if _, err := os.Stat("/etc/berth/daemon.json"); err == nil {
		t.Skip("/etc/berth/daemon.json exists on this host")
	}
	p.start(args...)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestSecondInstanceFailsFast(t *testing.T) {
	dir := t.TempDir()
	first := newProc(t, dir)
	first.start(first.args()...)

	second := newProc(t, t.TempDir())
	second.dataRoot = first.dataRoot
	stderr := runFail(t, second.args()...)
	want := fmt.Sprintf("berthd: another berthd is already running with data root %s (pid %d holds %s)\n",
		first.dataRoot, first.cmd.Process.Pid, filepath.Join(first.dataRoot, "berthd.lock"))
	if stderr != want {
		t.Fatalf("stderr %q\nwant   %q", stderr, want)
	}

	// Same socket, other data root: the live socket must not be stolen.
	third := newProc(t, t.TempDir())
	third.sock = first.sock
	if stderr := runFail(t, third.args()...); !strings.Contains(stderr, first.sock+" is in use") {
		t.Fatalf("stderr %q", stderr)
	}
	first.info() // still serving
}

func TestPidfile(t *testing.T) {
	p := newProc(t, t.TempDir())
	// A pidfile naming a live process (this test) refuses the start.
	if err := os.WriteFile(p.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stderr := runFail(t, p.args()...); !strings.Contains(stderr, fmt.Sprintf("pidfile %s names running process %d", p.pidfile, os.Getpid())) {
		t.Fatalf("stderr %q", stderr)
	}
	// A stale one is overwritten.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.pidfile, []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	p.start(p.args()...)
	if b, _ := os.ReadFile(p.pidfile); strings.TrimSpace(string(b)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pidfile holds %q, want %d", b, p.cmd.Process.Pid)
	}
}

func TestSIGTERM(t *testing.T) {
	p := newProc(t, t.TempDir())
	p.start(p.args()...)
	if b, _ := os.ReadFile(p.pidfile); strings.TrimSpace(string(b)) != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("pidfile holds %q", b)
	}

	// A request in flight when SIGTERM arrives is finished: its handler is
	// reading the body when the signal comes, and gets the rest after.
	c, err := net.Dial("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"Name": "inflight"}`
	if _, err := fmt.Fprintf(c, "POST /volumes/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:9]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.signal(syscall.SIGTERM)
	p.waitLog("received SIGTERM: shutting down", 1)
	select {
	case <-p.done:
		t.Fatal("berthd exited with a request in flight")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := net.Dial("unix", p.sock); err == nil {
		t.Fatal("still accepting connections after SIGTERM")
	}
	if _, err := io.WriteString(c, body[9:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(got), `"Name":"inflight"`) {
		t.Fatalf("in-flight request: %s %s", resp.Status, got)
	}
	c.Close()

	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.log)
	}
	for _, f := range []string{p.sock, p.pidfile} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	// The data root is unlocked and bbolt closed: a new berthd starts.
	q := newProc(t, p.dir).start(p.args()...)
	q.signal(syscall.SIGINT)
	if code := q.wait(); code != 0 {
		t.Fatalf("SIGINT: exit %d", code)
	}
}

func TestSIGHUP(t *testing.T) {
	p := newProc(t, t.TempDir())
	p.writeConfig(`{"max-volumes": 2, "log-level": "info"}`)
	p.start(p.args("--label", "from=flag")...)
	if i := p.info(); i.VolumeQuota.MaxVolumes != 2 || i.Debug {
		t.Fatalf("at start: %+v", i)
	}

	hup := func(config string) {
		t.Helper()
		p.writeConfig(config)
		p.signal(syscall.SIGHUP)
	}
	// hupOK waits for the reload to be applied.
	applied := 0
	hupOK := func(config string) {
		t.Helper()
		hup(config)
		applied++
		p.waitLog("configuration reloaded", applied)
	}
	failed := 0
	hupBad := func(config, why string) {
		t.Helper()
		hup(config)
		failed++
		p.waitLog("reloading the configuration failed", failed)
		p.waitLog(why, 1)
	}

	hupOK(`{"max-volumes": 5, "log-level": "debug"}`)
	if i := p.info(); i.VolumeQuota.MaxVolumes != 5 || !i.Debug {
		t.Fatalf("after reload: %+v", i)
	}

	hupBad(`{"max-volumes": 7,`, "malformed JSON")
	hupBad(`{"max-volumes": 7, "foo": 1}`, "don't match any configuration option: foo")
	hupBad(`{"max-volumes": -7}`, "invalid max-volumes -7")
	hupBad(`{"max-volumes": 7, "labels": ["from=file"]}`, "labels: (from flag: [from=flag], from file: [from=file])")
	if i := p.info(); i.VolumeQuota.MaxVolumes != 5 || !i.Debug || len(i.Labels) != 1 || i.Labels[0] != "from=flag" {
		t.Fatalf("a bad reload changed the config: %+v", i)
	}

	// Restart-only keys are logged and ignored; the rest applies.
	hupOK(`{"max-volumes": 0, "group": "berth-other", "insecure-tcp": true}`)
	p.waitLog("reload: group changed but needs a restart to take effect; ignored", 1)
	p.waitLog("reload: insecure-tcp changed but needs a restart to take effect; ignored", 1)
	if i := p.info(); i.VolumeQuota.MaxVolumes != 0 || i.Debug {
		t.Fatalf("after reload: %+v", i)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestSocketActivation starts berthd as systemd would for berth.socket: the
// socket passed as fd 3 with LISTEN_PID/LISTEN_FDS, and NOTIFY_SOCKET set
// for Type=notify.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	p := newProc(t, dir)
	l, err := net.Listen("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer f.Close()

	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	states := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:n])
		}
	}()
	expect := func(prefix string) {
		t.Helper()
		select {
		case s := <-states:
			if !strings.HasPrefix(s, prefix) {
				t.Fatalf("sd_notify %q, want %q", s, prefix)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no sd_notify %q", prefix)
		}
	}

	args := append([]string{"-H", "fd://"}, p.args()[2:]...)
	// LISTEN_PID must be berthd's pid: sh knows it ($$) and exec keeps it.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, berthd}, args...)...)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "NOTIFY_SOCKET="+notifyPath)
	cmd.ExtraFiles = []*os.File{f}
	p.startNoWait(cmd)
	expect("READY=1")
	p.waitPing(p.sock)
	p.signal(syscall.SIGHUP)
	expect("RELOADING=1\nMONOTONIC_USEC=")
	expect("READY=1")
	p.signal(syscall.SIGTERM)
	expect("STOPPING=1")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The socket is systemd's: berthd leaves it for the next activation.
	if fi, err := os.Stat(p.sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("activated socket removed: %v", err)
	}
}

// TestStartupFast measures launch to first /_ping answer (target 100ms).
func TestStartupFast(t *testing.T) {
	p := newProc(t, t.TempDir())
	start := time.Now()
	p.start(p.args()...)
	d := time.Since(start)
	t.Logf("launch to first /_ping: %v", d)
	if d > time.Second {
		t.Errorf("launch to first /_ping took %v, target 100ms", d)
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
