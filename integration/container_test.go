package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The container I/O and feature suite: each test drives its own berthd with
// the real docker CLI (and the API where the CLI shows too little), and
// removes its containers even when it fails.

// newContainerDocker starts a daemon with busybox:latest (and, with
// layered, fixture/layered:1.0) loaded, and a docker CLI pointed at it. Every
// container is removed (with its anonymous volumes) when the test ends.
func newContainerDocker(t *testing.T, opts daemonOpts, layered bool) (*daemon, *dockerCLI) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not on PATH")
	}
	busybox := fixture(t, "busybox-docker-save.tar")
	var lay []byte
	if layered {
		lay = fixture(t, "layered-docker-save.tar")
	}
	d := startDaemon(t, opts)
	docker := newDockerCLI(t, d)
	d.load(t, busybox)
	if layered {
		d.load(t, lay)
	}
	t.Cleanup(func() { removeAllContainers(d) })
	return d, docker
}

// removeAllContainers force-removes every container of a daemon that is
// still running (containers outlive berthd, so nothing else would).
func removeAllContainers(d *daemon) {
	if cmd, _ := d.running(); cmd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := d.request(ctx, "GET", "/v1.44/containers/json?all=1", nil)
	if err != nil || r.status != 200 {
		return
	}
	var list []struct{ ID string }
	if json.Unmarshal(r.body, &list) != nil {
		return
	}
	for _, c := range list {
		d.request(ctx, "DELETE", "/v1.44/containers/"+c.ID+"?force=1&v=1", nil)
	}
}

// fail runs a docker command that must fail with the exit code and print
// want on stderr.
func (c *dockerCLI) fail(code int, want string, args ...string) cliResult {
	c.t.Helper()
	r := c.run(args...)
	if r.exitCode != code || !strings.Contains(r.stderr, want) {
		c.t.Errorf("docker %s: want exit %d and %q on stderr, got %s", strings.Join(args, " "), code, want, r)
	}
	return r
}

// out runs a docker command that must succeed and returns its trimmed
// stdout.
func (c *dockerCLI) out(args ...string) string {
	c.t.Helper()
	return strings.TrimSpace(c.ok(args...))
}

// stdin runs a docker command with input on its stdin.
func (c *dockerCLI) stdin(input io.Reader, args ...string) cliResult {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env, cmd.Stdin = c.env, input
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		c.t.Fatalf("docker %v did not finish within 60s", args)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), exitCode: cmd.ProcessState.ExitCode()}
}

func (c *dockerCLI) inspect(format, name string) string {
	c.t.Helper()
	return c.out("inspect", "--format", format, name)
}

// capEff is the CapEff line of /proc/self/status in a container run with
// args.
func capEff(docker *dockerCLI, args ...string) string {
	docker.t.Helper()
	out := docker.out(append(append([]string{"run", "--rm"}, args...), "busybox", "busybox", "grep", "CapEff", "/proc/self/status")...)
	return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
}

func TestContainerRunOptions(t *testing.T) {
	t.Parallel()
	_, docker := newContainerDocker(t, daemonOpts{}, false)

	if out := docker.ok("run", "--rm", "busybox", "echo", "hi"); out != "hi\n" {
		t.Errorf("run --rm echo hi: %q", out)
	}
	// Exit codes, and Docker's 127 with its message for a missing command.
	docker.fail(1, "", "run", "--rm", "busybox", "false")
	docker.fail(3, "", "run", "--rm", "busybox", "sh", "-c", "exit 3")
	docker.fail(127, `exec: "no-such-cmd": executable file not found in $PATH`, "run", "--rm", "busybox", "no-such-cmd")

	if out := docker.ok("run", "--rm", "-e", "A=1", "-e", "B=two words", "-w", "/tmp/wd", "busybox", "sh", "-c", `echo "$A $B"; pwd`); out != "1 two words\n/tmp/wd\n" {
		t.Errorf("run -e -w: %q", out)
	}
	if out := docker.out("run", "--rm", "-u", "1000:1000", "busybox", "id"); out != "uid=1000 gid=1000 groups=1000" {
		t.Errorf("run -u 1000:1000: %q", out)
	}
	// busybox:latest has no /etc/passwd: Docker's message, and 125.
	docker.fail(125, "unable to find user nobody: no matching entries in passwd file", "run", "--rm", "-u", "nobody", "busybox", "id")
	if out := docker.out("run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"); out != "from entrypoint" {
		t.Errorf("run --entrypoint: %q", out)
	}
	if out := docker.out("run", "--rm", "--hostname", "myhost", "busybox", "hostname"); out != "myhost" {
		t.Errorf("run --hostname: %q", out)
	}
	docker.fail(1, "Read-only file system", "run", "--rm", "--read-only", "busybox", "touch", "/x")
	if out := docker.out("run", "--rm", "--read-only", "--tmpfs", "/t", "busybox", "sh", "-c", "touch /t/x && echo ok && mount | busybox grep ' /t '"); !strings.HasPrefix(out, "ok\ntmpfs on /t type tmpfs") {
		t.Errorf("run --read-only --tmpfs /t: %q", out)
	}

	// Capabilities: Docker's default set, minus and plus.
	if got := capEff(docker); got != "00000000a80425fb" {
		t.Errorf("default CapEff %s, want Docker's 00000000a80425fb", got)
	}
	if got := capEff(docker, "--cap-drop", "ALL"); got != "0000000000000000" {
		t.Errorf("--cap-drop ALL CapEff %s", got)
	}
	if got := capEff(docker, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN"); got != "0000000000001000" {
		t.Errorf("--cap-drop ALL --cap-add NET_ADMIN CapEff %s", got)
	}
	if got := capEff(docker, "--cap-drop", "CHOWN"); got != "00000000a80425fa" {
		t.Errorf("--cap-drop CHOWN CapEff %s", got)
	}
	if v, err := strconv.ParseUint(capEff(docker, "--privileged"), 16, 64); err != nil || v&(1<<21) == 0 { // CAP_SYS_ADMIN
		t.Errorf("--privileged CapEff %x (%v) lacks CAP_SYS_ADMIN", v, err)
	}
	if out := docker.out("run", "--rm", "--privileged", "busybox", "ls", "/dev"); !strings.Contains(out, "loop") && !strings.Contains(out, "tty1") {
		t.Errorf("--privileged /dev lacks the host's devices: %q", out)
	}

	// Seccomp: Docker's default profile, none, and a profile of one's own
	// (the CLI reads the file and sends its content).
	seccomp := func(args ...string) string {
		return docker.out(append(append([]string{"run", "--rm"}, args...), "busybox", "busybox", "grep", "Seccomp:", "/proc/self/status")...)
	}
	if out := seccomp(); !strings.HasSuffix(out, "2") {
		t.Errorf("default seccomp: %q, want filter mode 2", out)
	}
	if out := seccomp("--security-opt", "seccomp=unconfined"); !strings.HasSuffix(out, "0") {
		t.Errorf("seccomp=unconfined: %q", out)
	}
	profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	r := docker.run("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "sh", "-c", "mkdir /made; echo rc=$?")
	if r.exitCode != 0 || r.stdout != "rc=1\n" || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("seccomp profile denying mkdir: %s", r)
	}
	if out := docker.out("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); !strings.HasSuffix(out, "1") {
		t.Errorf("no-new-privileges: %q", out)
	}
	if out := docker.out("run", "--rm", "busybox", "busybox", "grep", "NoNewPrivs", "/proc/self/status"); !strings.HasSuffix(out, "0") {
		t.Errorf("default NoNewPrivs: %q", out)
	}

	// Networks: none has only lo; host sees the host's interfaces.
	links := func(mode string) string {
		return docker.out("run", "--rm", "--network", mode, "busybox", "sh", "-c", "ls /sys/class/net")
	}
	if out := strings.Fields(links("none")); len(out) != 1 || out[0] != "lo" {
		t.Errorf("--network none interfaces: %q", out)
	}
	ifaces, _ := net.Interfaces()
	hostOut := " " + strings.Join(strings.Fields(links("host")), " ") + " "
	for _, ifc := range ifaces {
		if !strings.Contains(hostOut, " "+ifc.Name+" ") {
			t.Errorf("--network host lacks the host's %s: %q", ifc.Name, hostOut)
		}
	}

	docker.ok("run", "--rm", "--ipc", "host", "busybox", "ls", "-d", "/dev/mqueue", "/dev/shm")

	// Short-lived containers started side by side lose no output (the
	// attach must be in place before the start it precedes).
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			for j := range 3 {
				want := fmt.Sprintf("out-%d-%d\n", i, j)
				if r := docker.run("run", "--rm", "busybox", "echo", strings.TrimSpace(want)); r.exitCode != 0 || r.stdout != want {
					t.Errorf("concurrent run %d/%d: %s", i, j, r)
				}
			}
		})
	}
	wg.Wait()

	// --init (tini as PID 1) is covered by container_init_test.go.
	docker.ok("run", "--rm", "--init", "busybox", "true")
	if out := docker.out("ps", "-aq"); out != "" {
		t.Errorf("containers left after --rm runs: %q", out)
	}
}

// ptyCmd is a command running on a pseudo-terminal.
type ptyCmd struct {
	t    *testing.T
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// openPTY opens a pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80})
	return m, s, nil
}

// startPTY runs the docker CLI with a terminal as its stdin, stdout and
// stderr (its controlling terminal).
func (c *dockerCLI) startPTY(args ...string) *ptyCmd {
	c.t.Helper()
	m, s, err := openPTY()
	if err != nil {
		c.t.Skipf("no pseudo-terminal: %v", err)
	}
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(c.env, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	s.Close()
	p := &ptyCmd{t: c.t, cmd: cmd, pty: m, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		m.Close()
	})
	return p
}

func (p *ptyCmd) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// expect waits until the terminal has shown re.
func (p *ptyCmd) expect(re string) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for !rx.MatchString(p.output()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal never showed %q; it shows:\n%q", re, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *ptyCmd) send(s string) {
	p.t.Helper()
	if _, err := p.pty.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the CLI's exit and returns its code.
func (p *ptyCmd) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("docker did not exit; the terminal shows:\n%q", p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func TestContainerInteractive(t *testing.T) {
	t.Parallel()
	_, docker := newContainerDocker(t, daemonOpts{}, false)

	// docker run -it through a real terminal.
	p := docker.startPTY("run", "-it", "--rm", "--name", "it", "busybox", "sh")
	p.expect(`/ # `)
	p.send("echo hel''lo\r")
	p.expect(`echo hel''lo\r\nhello\r\n`) // the echo of the input, then the output
	p.send("stty size\r")
	p.expect(`\r\n24 80\r\n`)
	p.send("exit\r")
	if code := p.wait(); code != 0 {
		t.Errorf("docker run -it exited %d:\n%q", code, p.output())
	}

	// Attach to a -dit container and detach with ctrl-p ctrl-q: the CLI
	// says "read escape sequence" (and, like Docker's, exits 1); the
	// container keeps running.
	docker.ok("run", "-dit", "--name", "bg", "busybox", "sh")
	p = docker.startPTY("attach", "bg")
	p.send("echo attached-$((40+2))\r")
	p.expect(`attached-42\r\n`)
	p.send("\x10\x11")
	p.expect(`read escape sequence`)
	p.wait()
	if st := docker.inspect("{{.State.Status}}", "bg"); st != "running" {
		t.Errorf("after detach the container is %s", st)
	}
	// Custom detach keys, on a second attach.
	p = docker.startPTY("attach", "--detach-keys", "ctrl-x", "bg")
	p.send("echo again\r")
	p.expect(`again\r\n`)
	p.send("\x18")
	p.expect(`read escape sequence`)
	p.wait()
	if st := docker.inspect("{{.State.Status}}", "bg"); st != "running" {
		t.Errorf("after the second detach the container is %s", st)
	}
	// The TTY's output is in its log, raw.
	if out := docker.ok("logs", "bg"); !strings.Contains(out, "attached-42\r\n") {
		t.Errorf("logs of the tty container: %q", out)
	}

	// docker run -i with piped stdin.
	r := docker.stdin(strings.NewReader("data\nmore\n"), "run", "-i", "--rm", "busybox", "cat")
	if r.exitCode != 0 || r.stdout != "data\nmore\n" {
		t.Errorf("echo data | docker run -i cat: %s", r)
	}
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB through stdin and back
	r = docker.stdin(strings.NewReader(big), "run", "-i", "--rm", "busybox", "wc", "-c")
	if strings.TrimSpace(r.stdout) != strconv.Itoa(len(big)) {
		t.Errorf("1 MiB through run -i: %s", r)
	}
	// Without -i stdin is not passed.
	r = docker.stdin(strings.NewReader("ignored\n"), "run", "--rm", "busybox", "cat")
	if r.exitCode != 0 || r.stdout != "" {
		t.Errorf("run without -i: %s", r)
	}
}

func TestContainerLogs(t *testing.T) {
	t.Parallel()
	// With live-restore a running container outlives the restart below.
	d, docker := newContainerDocker(t, daemonOpts{config: map[string]any{"live-restore": true}}, false)

	// logs -f follows new lines and ends when the container stops.
	docker.ok("run", "-d", "--name", "follow", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; sleep 0.3; done")
	start := time.Now()
	r := docker.run("logs", "-f", "follow")
	if r.exitCode != 0 || r.stdout != "out1\nout2\nout3\nout4\nout5\n" || r.stderr != "err1\nerr2\nerr3\nerr4\nerr5\n" {
		t.Errorf("logs -f: %s", r)
	}
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Errorf("logs -f returned after %s, before the container ended", el)
	}
	// After the exit: stdout and stderr apart, --tail, -t, --since.
	if r := docker.run("logs", "follow"); r.stdout != "out1\nout2\nout3\nout4\nout5\n" || r.stderr != "err1\nerr2\nerr3\nerr4\nerr5\n" {
		t.Errorf("logs of an exited container: %s", r)
	}
	if r := docker.run("logs", "--tail", "2", "follow"); lines(r.stdout+r.stderr) == nil || len(lines(r.stdout+r.stderr)) != 2 || !strings.Contains(r.stdout+r.stderr, "out5") {
		t.Errorf("logs --tail 2: %s", r)
	}
	if out := docker.out("logs", "--tail", "0", "follow"); out != "" {
		t.Errorf("logs --tail 0: %q", out)
	}
	ts := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out1$`)
	if out := lines(docker.ok("logs", "-t", "follow")); len(out) != 5 || !ts.MatchString(out[0]) {
		t.Errorf("logs -t: %q", out)
	}
	if out := docker.out("logs", "--since", time.Now().Add(time.Minute).Format(time.RFC3339), "follow"); out != "" {
		t.Errorf("logs --since the future: %q", out)
	}
	if out := lines(docker.ok("logs", "--since", start.Add(-time.Minute).Format(time.RFC3339), "follow")); len(out) != 5 {
		t.Errorf("logs --since a minute before: %q", out)
	}

	// TTY: one raw stream, \r\n line ends, stderr merged into stdout.
	docker.ok("run", "-t", "--name", "tty", "busybox", "sh", "-c", "echo tty-out; echo tty-err >&2")
	if r := docker.run("logs", "tty"); r.stdout != "tty-out\r\ntty-err\r\n" || r.stderr != "" {
		t.Errorf("logs of a tty container: %s", r)
	}

	// Rotation: max-size=1k, max-file=2 keeps two files of at most 1k.
	docker.ok("run", "--name", "rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
		`i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done`)
	logPath := docker.inspect("{{.LogPath}}", "rot")
	files, _ := filepath.Glob(logPath + "*")
	if len(files) != 2 {
		t.Errorf("rotated log files %q, want 2", files)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 2048 {
			t.Errorf("log file %s: %v, size %d is far above max-size=1k", f, err, fi.Size())
		}
	}
	if out := lines(docker.ok("logs", "rot")); len(out) == 0 || len(out) >= 200 || out[len(out)-1] != "line-199-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" {
		t.Errorf("logs of the rotated container end %q (%d lines)", out[max(0, len(out)-1):], len(out))
	}

	// --log-driver none: no log, Docker's error.
	docker.ok("run", "--name", "nolog", "--log-driver", "none", "busybox", "echo", "x")
	docker.fail(1, "Error response from daemon: configured logging driver does not support reading", "logs", "nolog")

	// Logs survive a berthd restart, for a stopped and a running container.
	docker.ok("run", "-d", "--name", "run", "busybox", "sh", "-c", "echo before; sleep 4; echo after")
	waitFor(t, 10*time.Second, "the first line", func() bool { return docker.run("logs", "run").stdout == "before\n" })
	d.stop()
	d.start()
	if r := docker.run("logs", "follow"); r.stdout != "out1\nout2\nout3\nout4\nout5\n" || r.stderr != "err1\nerr2\nerr3\nerr4\nerr5\n" {
		t.Errorf("logs after a restart: %s", r)
	}
	if st := docker.inspect("{{.State.Status}}", "run"); st != "running" {
		t.Fatalf("the running container is %s after a berthd restart", st)
	}
	// (It ends by itself rather than on a file an exec writes: after a
	// live-restore restart berthd mounts the layer anew under the running
	// container, and the container's rootfs then fails to create files.)
	r = docker.run("logs", "-f", "run")
	if r.stdout != "before\nafter\n" {
		t.Errorf("logs -f after a restart: %s", r)
	}
}

func TestContainerExec(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{}, false)
	docker.ok("run", "-d", "--name", "ex", "-e", "BASE=1", "busybox", "sleep", "1000")

	if out := docker.ok("exec", "ex", "echo", "hi"); out != "hi\n" {
		t.Errorf("exec echo: %q", out)
	}
	docker.fail(5, "", "exec", "ex", "sh", "-c", "exit 5")
	if out := docker.ok("exec", "-u", "1000:1000", "-e", "X=y", "-w", "/tmp", "ex", "sh", "-c", "id -u; echo $X $BASE; pwd"); out != "1000\ny 1\n/tmp\n" {
		t.Errorf("exec -u -e -w: %q", out)
	}
	if r := docker.stdin(strings.NewReader("piped\n"), "exec", "-i", "ex", "cat"); r.exitCode != 0 || r.stdout != "piped\n" {
		t.Errorf("exec -i: %s", r)
	}
	// Separate streams without a TTY, one raw stream with.
	if r := docker.run("exec", "ex", "sh", "-c", "echo o; echo e >&2"); r.stdout != "o\n" || r.stderr != "e\n" {
		t.Errorf("exec streams: %s", r)
	}
	if r := docker.run("exec", "-t", "ex", "sh", "-c", "tty; echo e >&2"); r.exitCode != 0 || !regexp.MustCompile(`^/dev/pts/\d+\r\ne\r\n$`).MatchString(r.stdout) {
		t.Errorf("exec -t: %s", r)
	}
	p := docker.startPTY("exec", "-it", "ex", "sh")
	p.expect(`# `)
	p.send("echo in-$((6*7))\r")
	p.expect(`in-42\r\n`)
	p.send("exit 4\r")
	if code := p.wait(); code != 4 {
		t.Errorf("exec -it exit 4: %d", code)
	}
	// A missing command: Docker's message (in the stream, so on stdout) and 127.
	if r := docker.run("exec", "ex", "no-such-cmd"); r.exitCode != 127 || !strings.Contains(r.stdout, `exec: "no-such-cmd": executable file not found in $PATH`) {
		t.Errorf("exec of a missing command: %s", r)
	}

	if r := docker.run("exec", "-u", "nobody", "ex", "true"); r.exitCode != 126 || !strings.Contains(r.stdout, "unable to find user nobody") {
		t.Errorf("exec -u of a user the image lacks: %s", r)
	}

	// The exit code through exec inspect.
	r := d.do("POST", "/v1.44/containers/ex/exec", map[string]any{"Cmd": []string{"sh", "-c", "exit 7"}})
	expectStatus(t, r, 201, "exec create")
	var created struct{ Id string }
	r.decode(t, &created)
	expectStatus(t, d.do("POST", "/v1.44/exec/"+created.Id+"/start", map[string]any{"Detach": true}), 200, "exec start detached")
	var ins struct {
		Running  bool
		ExitCode *int
		Pid      int
	}
	waitFor(t, 10*time.Second, "the exec's end", func() bool {
		d.do("GET", "/v1.44/exec/"+created.Id+"/json", nil).decode(t, &ins)
		return !ins.Running && ins.ExitCode != nil
	})
	if *ins.ExitCode != 7 || ins.Pid == 0 {
		t.Errorf("exec inspect: %+v", ins)
	}
	expectError(t, d.do("POST", "/v1.44/exec/"+created.Id+"/start", map[string]any{"Detach": true}), 409, "has already run", "second start")
	expectError(t, d.do("GET", "/v1.44/exec/nosuch/json", nil), 404, "No such exec instance: nosuch", "inspect of no exec")

	// Paused and stopped containers refuse.
	docker.ok("pause", "ex")
	docker.fail(1, "Error response from daemon: Container ex is paused, unpause the container before exec", "exec", "ex", "true")
	docker.ok("unpause", "ex")
	docker.ok("stop", "-t", "0", "ex")
	id := docker.inspect("{{.Id}}", "ex")
	docker.fail(1, "Error response from daemon: container "+id+" is not running", "exec", "ex", "true")
	expectError(t, d.do("POST", "/v1.44/containers/ex/exec", map[string]any{"Cmd": []string{"true"}}), 409, "is not running", "exec in a stopped container")
}

// tarOf builds a tar archive with the files (name → content).
func tarOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.Bytes()
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
}

func TestContainerFilesystem(t *testing.T) {
	t.Parallel()
	_, docker := newContainerDocker(t, daemonOpts{}, false)
	docker.ok("run", "-d", "--name", "cpc", "-v", "cpvol:/vol", "busybox", "sleep", "1000")

	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("file a\n"), 0o644)
	os.WriteFile(filepath.Join(src, "dir", "b.txt"), []byte("file b\n"), 0o644)
	os.WriteFile(filepath.Join(src, "dir", "sub", "c.txt"), []byte("file c\n"), 0o644)

	// Into the container: a file, a directory, a directory's content, into
	// a volume, and a tar from stdin.
	docker.ok("cp", filepath.Join(src, "a.txt"), "cpc:/tmp/")
	docker.ok("cp", filepath.Join(src, "dir"), "cpc:/tmp/newdir")
	docker.ok("cp", filepath.Join(src, "dir")+"/.", "cpc:/tmp/")
	docker.ok("cp", filepath.Join(src, "a.txt"), "cpc:/vol/in-volume.txt")
	if r := docker.stdin(bytes.NewReader(tarOf(t, map[string]string{"from-tar.txt": "tarred\n"})), "cp", "-", "cpc:/"); r.exitCode != 0 {
		t.Errorf("cp - c:/: %s", r)
	}
	out := docker.ok("exec", "cpc", "sh", "-c", "cat /tmp/a.txt /tmp/newdir/sub/c.txt /tmp/b.txt /tmp/sub/c.txt /vol/in-volume.txt /from-tar.txt")
	if out != "file a\nfile c\nfile b\nfile c\nfile a\ntarred\n" {
		t.Errorf("files copied in: %q", out)
	}
	if mp := docker.out("volume", "inspect", "--format", "{{.Mountpoint}}", "cpvol"); true {
		if b, _ := os.ReadFile(filepath.Join(mp, "in-volume.txt")); string(b) != "file a\n" {
			t.Errorf("the volume's directory holds %q", b)
		}
	}

	// Out of the container: a file, a directory, a directory's content, a tar.
	dst := t.TempDir()
	docker.ok("cp", "cpc:/tmp/newdir", dst)
	docker.ok("cp", "cpc:/etc/hostname", filepath.Join(dst, "hn"))
	os.Mkdir(filepath.Join(dst, "content"), 0o755)
	docker.ok("cp", "cpc:/tmp/newdir/.", filepath.Join(dst, "content"))
	for f, want := range map[string]string{"newdir/b.txt": "file b\n", "newdir/sub/c.txt": "file c\n", "content/sub/c.txt": "file c\n"} {
		if b, err := os.ReadFile(filepath.Join(dst, f)); err != nil || string(b) != want {
			t.Errorf("copied out %s: %q, %v", f, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "hn")); len(strings.TrimSpace(string(b))) != 12 {
		t.Errorf("copied out /etc/hostname: %q", b)
	}
	r := docker.run("cp", "cpc:/tmp/newdir", "-")
	if names := tarNames(t, []byte(r.stdout)); !sameSet(names, []string{"newdir", "newdir/b.txt", "newdir/sub", "newdir/sub/c.txt"}) {
		t.Errorf("cp c:/tmp/newdir - lists %q", names)
	}

	// Errors: Docker's messages.
	docker.fail(1, "Could not find the file /nope in container cpc", "cp", "cpc:/nope", dst)
	docker.fail(1, "No such container: nosuch", "cp", "nosuch:/etc/hostname", dst)
	docker.ok("run", "-d", "--name", "ro", "--read-only", "-v", "/rw", "busybox", "sleep", "1000")
	docker.fail(1, "container rootfs is marked read-only", "cp", filepath.Join(src, "a.txt"), "ro:/tmp/")
	docker.ok("cp", filepath.Join(src, "a.txt"), "ro:/rw/") // a volume of a read-only container takes files

	// diff after meaningful changes.
	docker.ok("exec", "cpc", "sh", "-c", "touch /x; rm /bin/wget; mkdir -p /etc/new; echo hi > /etc/new/f")
	diff := lines(docker.ok("diff", "cpc"))
	for _, want := range []string{"A /x", "D /bin/wget", "C /bin", "A /etc/new", "A /etc/new/f", "A /tmp/a.txt", "A /from-tar.txt"} {
		if !containsLine(diff, want) {
			t.Errorf("docker diff lacks %q: %q", want, diff)
		}
	}
	for _, l := range diff {
		if strings.HasPrefix(l, "A /vol/") || l == "A /etc/hostname" || l == "C /etc/hostname" {
			t.Errorf("docker diff lists %q (a volume's content or a file berthd manages)", l)
		}
	}

	// export: the whole filesystem as a tar.
	r = docker.run("export", "cpc")
	names := tarNames(t, []byte(r.stdout))
	for _, want := range []string{"bin/busybox", "bin/sh", "tmp/a.txt", "x", "etc/new/f"} {
		if !containsLine(names, want) {
			t.Errorf("export lacks %s (%d entries)", want, len(names))
		}
	}
	if containsLine(names, "bin/wget") {
		t.Error("export holds the removed bin/wget")
	}

	// commit: a new image with the file and a new CMD.
	id := docker.out("commit", "--change", `CMD ["echo","committed"]`, "cpc", "committed:1")
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("commit printed %q", id)
	}
	if out := docker.out("run", "--rm", "committed:1"); out != "committed" {
		t.Errorf("the committed image's CMD printed %q", out)
	}
	if out := docker.out("run", "--rm", "committed:1", "cat", "/x", "/etc/new/f", "/tmp/a.txt"); out != "hi\nfile a" {
		t.Errorf("the committed image's files: %q", out)
	}
	docker.fail(1, "No such file", "run", "--rm", "committed:1", "ls", "/bin/wget")
	if h := lines(docker.ok("history", "-q", "committed:1")); len(h) != 2 {
		t.Errorf("history of the committed image: %q", h)
	}
}

func containsLine(list []string, want string) bool {
	for _, l := range list {
		if l == want {
			return true
		}
	}
	return false
}

// cgroupFile reads a cgroup v1 file of the container's init process.
func cgroupFile(t *testing.T, docker *dockerCLI, name, controller, file string) string {
	t.Helper()
	pid := docker.inspect("{{.State.Pid}}", name)
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatalf("cgroups of %s (pid %s): %v", name, pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[1], parts[2], file))
				if err != nil {
					t.Fatalf("reading %s: %v", file, err)
				}
				return strings.TrimSpace(string(v))
			}
		}
	}
	t.Skipf("no cgroup v1 %s controller for the container", controller)
	return ""
}

func TestContainerResources(t *testing.T) {
	t.Parallel()
	_, docker := newContainerDocker(t, daemonOpts{}, false)

	// pause freezes: a counter stops advancing, and resumes after unpause.
	docker.ok("run", "-d", "--name", "count", "busybox", "sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done")
	waitFor(t, 10*time.Second, "the counter", func() bool { return len(lines(docker.ok("logs", "count"))) > 3 })
	docker.ok("pause", "count")
	if st := docker.inspect("{{.State.Status}} {{.State.Paused}}", "count"); st != "paused true" {
		t.Errorf("paused container state %q", st)
	}
	if out := docker.out("ps", "--format", "{{.Status}}", "--filter", "name=count"); !strings.HasSuffix(out, "(Paused)") {
		t.Errorf("ps of a paused container: %q", out)
	}
	n1 := len(lines(docker.ok("logs", "count")))
	time.Sleep(500 * time.Millisecond)
	if n2 := len(lines(docker.ok("logs", "count"))); n2 != n1 {
		t.Errorf("the counter advanced from %d to %d while paused", n1, n2)
	}
	docker.fail(1, "is already paused", "pause", "count")
	docker.ok("unpause", "count")
	waitFor(t, 10*time.Second, "the counter to resume", func() bool { return len(lines(docker.ok("logs", "count"))) > n1+3 })
	docker.fail(1, "is not paused", "unpause", "count")

	// stats and top.
	docker.ok("run", "-d", "--name", "lim", "-m", "64m", "--pids-limit", "20", "busybox", "sleep", "1000")
	var st struct{ MemUsage, PIDs, Name string }
	if err := json.Unmarshal([]byte(docker.out("stats", "--no-stream", "--format", "{{json .}}", "lim")), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.MemUsage, " / 64MiB") || strings.HasPrefix(st.MemUsage, "0B") || st.PIDs != "1" || st.Name != "lim" {
		t.Errorf("stats --no-stream: %+v", st)
	}
	top := docker.ok("top", "lim")
	if !strings.Contains(top, "PID") || !strings.Contains(top, "sleep 1000") {
		t.Errorf("top: %q", top)
	}
	if top := lines(docker.ok("top", "lim", "-o", "pid,args")); len(top) != 2 || !strings.HasSuffix(top[1], "sleep 1000") {
		t.Errorf("top -o pid,args: %q", top)
	}
	if got := cgroupFile(t, docker, "lim", "memory", "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
		t.Errorf("memory.limit_in_bytes %s", got)
	}
	if got := cgroupFile(t, docker, "lim", "pids", "pids.max"); got != "20" {
		t.Errorf("pids.max %s", got)
	}
	// docker update changes the running container's limit.
	docker.ok("update", "-m", "100m", "--memory-swap", "200m", "lim")
	if got := cgroupFile(t, docker, "lim", "memory", "memory.limit_in_bytes"); got != strconv.Itoa(100<<20) {
		t.Errorf("memory.limit_in_bytes after update %s", got)
	}
	if got := docker.inspect("{{.HostConfig.Memory}}", "lim"); got != strconv.Itoa(100<<20) {
		t.Errorf("inspect Memory after update %s", got)
	}

	// --pids-limit stops a fork loop.
	r := docker.run("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", "for i in $(busybox seq 50); do sleep 5 & done; echo all-started")
	if !strings.Contains(r.stderr, "can't fork") || strings.Contains(r.stdout, "all-started") {
		t.Errorf("fork loop under --pids-limit 20: %s", r)
	}

	// A memory hog under -m 32m is OOM-killed: 137, OOMKilled.
	r = docker.run("run", "--name", "hog", "-m", "32m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
	if r.exitCode != 137 {
		t.Errorf("memory hog: %s", r)
	}
	if got := docker.inspect("{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"); got != "true 137" {
		t.Errorf("memory hog state: %s", got)
	}

	// CPU settings: in inspect and in the cgroup.
	docker.ok("run", "-d", "--name", "cpu", "--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0", "busybox", "sleep", "1000")
	if got := docker.inspect("{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}}", "cpu"); got != "500000000 512 0" {
		t.Errorf("inspect cpu settings: %s", got)
	}
	quota, _ := strconv.Atoi(cgroupFile(t, docker, "cpu", "cpu", "cpu.cfs_quota_us"))
	period, _ := strconv.Atoi(cgroupFile(t, docker, "cpu", "cpu", "cpu.cfs_period_us"))
	if period == 0 || quota*2 != period {
		t.Errorf("cfs quota %d period %d, want half", quota, period)
	}
	if got := cgroupFile(t, docker, "cpu", "cpu", "cpu.shares"); got != "512" {
		t.Errorf("cpu.shares %s", got)
	}
	if got := cgroupFile(t, docker, "cpu", "cpuset", "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus %s", got)
	}
}

func TestContainerVolumes(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{}, true)

	// -v name:/path creates the volume; :ro is enforced.
	docker.ok("run", "--rm", "-v", "named:/x", "busybox", "sh", "-c", "echo kept > /x/f")
	if got := lines(docker.ok("volume", "ls", "-q")); !sameSet(got, []string{"named"}) {
		t.Errorf("volumes after -v named:/x: %q", got)
	}
	r := docker.run("run", "--rm", "-v", "named:/x:ro", "busybox", "sh", "-c", "cat /x/f; echo no > /x/f")
	if r.exitCode == 0 || r.stdout != "kept\n" || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("-v named:/x:ro: %s", r)
	}

	// Anonymous volumes: -v /path, and the image's VOLUME seeded from the
	// image; --rm removes them.
	docker.ok("run", "--rm", "-v", "/anon", "busybox", "sh", "-c", "mount | busybox grep -q ' /anon '")
	out := docker.ok("run", "--rm", "fixture/layered:1.0", "sh", "-c", "ls /etc/app; cat /data/seed.txt; echo $GREETING; pwd")
	if out != "b\nseeded\nhello\n/srv/www\n" {
		t.Errorf("fixture/layered:1.0 printed %q", out)
	}
	if got := lines(docker.ok("volume", "ls", "-q")); !sameSet(got, []string{"named"}) {
		t.Errorf("anonymous volumes left after --rm: %q", got)
	}
	// A named volume is seeded too, unless nocopy.
	if out := docker.out("run", "--rm", "-v", "seeded:/data", "fixture/layered:1.0", "ls", "/data"); out != "seed.txt" {
		t.Errorf("named volume on /data: %q", out)
	}
	if out := docker.out("run", "--rm", "-v", "unseeded:/data:nocopy", "fixture/layered:1.0", "ls", "/data"); out != "" {
		t.Errorf("nocopy volume on /data: %q", out)
	}

	// Bind mounts: -v creates a missing host directory, --mount refuses.
	host := filepath.Join(t.TempDir(), "made", "here")
	docker.ok("run", "--rm", "-v", host+":/h", "busybox", "sh", "-c", "echo via-bind > /h/f")
	if b, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(b) != "via-bind\n" {
		t.Errorf("bind mount with a created host dir: %q %v", b, err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	docker.fail(125, "invalid mount config for type \"bind\": bind source path does not exist: "+missing,
		"run", "--rm", "--mount", "type=bind,src="+missing+",dst=/h", "busybox", "true")
	if _, err := os.Stat(missing); err == nil {
		t.Error("--mount type=bind created the missing source")
	}
	if out := docker.out("run", "--rm", "--mount", "type=bind,src="+host+",dst=/h,readonly", "busybox", "cat", "/h/f"); out != "via-bind" {
		t.Errorf("--mount type=bind,readonly: %q", out)
	}

	// --mount type=volume and type=tmpfs.
	if out := docker.out("run", "--rm", "--mount", "type=volume,src=mvol,dst=/y", "busybox", "sh", "-c", "mount | busybox grep -c ' /y '"); out != "1" {
		t.Errorf("--mount type=volume: %q", out)
	}
	if got := lines(docker.ok("volume", "ls", "-q", "--filter", "name=mvol")); !sameSet(got, []string{"mvol"}) {
		t.Errorf("--mount type=volume did not create mvol: %q", got)
	}
	if out := docker.out("run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "busybox", "sh", "-c", "mount | busybox grep ' /t '"); !strings.Contains(out, "tmpfs on /t type tmpfs") || !strings.Contains(out, "size=1024k") {
		t.Errorf("--mount type=tmpfs,tmpfs-size=1m: %q", out)
	}

	// --volumes-from; a volume in use cannot be removed; rm -v removes the
	// anonymous volumes only.
	docker.ok("run", "-d", "--name", "src", "-v", "shared:/s", "-v", "/anon2", "busybox", "sh", "-c", "echo from-src > /s/f; echo anon > /anon2/f; sleep 1000")
	waitFor(t, 10*time.Second, "the source's files", func() bool { return docker.run("exec", "src", "cat", "/anon2/f").stdout == "anon\n" })
	if out := docker.ok("run", "--rm", "--volumes-from", "src", "busybox", "cat", "/s/f", "/anon2/f"); out != "from-src\nanon\n" {
		t.Errorf("--volumes-from: %q", out)
	}
	docker.fail(1, "volume is in use", "volume", "rm", "shared")
	expectError(t, d.do("DELETE", "/v1.44/volumes/shared", nil), 409, "volume is in use", "DELETE of a volume in use")
	anon := docker.inspect(`{{range .Mounts}}{{if eq .Destination "/anon2"}}{{.Name}}{{end}}{{end}}`, "src")
	if !hex64.MatchString(anon) {
		t.Fatalf("the anonymous volume's name %q", anon)
	}
	docker.ok("rm", "-f", "-v", "src")
	vols := lines(docker.ok("volume", "ls", "-q"))
	if containsLine(vols, anon) || !containsLine(vols, "shared") {
		t.Errorf("after rm -v: %q (the anonymous %s goes, shared stays)", vols, anon)
	}
	docker.ok("volume", "rm", "shared")
}

func TestContainerVolumeQuota(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{maxVolumes: 1}, true)
	docker.ok("volume", "create", "only")

	want := "Error response from daemon: " + quotaMessage(1, 1)
	docker.fail(125, want, "run", "-v", "new:/x", "busybox", "true")
	docker.fail(125, want, "run", "--rm", "-v", "/anon", "busybox", "true")
	docker.fail(125, want, "run", "fixture/layered:1.0", "true") // the image's VOLUME
	docker.fail(1, want, "create", "--mount", "type=volume,src=m,dst=/m", "busybox", "true")
	if out := docker.out("ps", "-aq"); out != "" {
		t.Errorf("refused creates left containers: %q", out)
	}
	if got := lines(docker.ok("volume", "ls", "-q")); !sameSet(got, []string{"only"}) {
		t.Errorf("refused creates left volumes: %q", got)
	}
	d.expectQuota(1, 1)
	// The existing volume can still be used.
	docker.ok("run", "--rm", "-v", "only:/x", "busybox", "true")
}

func TestContainerListInspect(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{}, true)
	since := time.Now().Add(-time.Second).Unix()

	docker.ok("run", "-d", "--name", "web", "--label", "env=prod", "-v", "pv:/v", "busybox", "sleep", "1000")
	docker.fail(2, "", "run", "--name", "failed", "busybox", "sh", "-c", "exit 2")
	docker.ok("run", "--name", "okay", "busybox", "true")
	docker.ok("create", "--name", "fresh", "fixture/layered:1.0")
	ids := map[string]string{}
	for _, n := range []string{"web", "failed", "okay", "fresh"} {
		ids[n] = docker.inspect("{{.Id}}", n)
	}

	names := func(args ...string) []string {
		return lines(docker.ok(append([]string{"ps", "--format", "{{.Names}}"}, args...)...))
	}
	if got := names(); !sameSet(got, []string{"web"}) {
		t.Errorf("ps: %q", got)
	}
	if got := names("-a"); !sameSet(got, []string{"web", "failed", "okay", "fresh"}) {
		t.Errorf("ps -a: %q", got)
	}
	if got := lines(docker.ok("ps", "-q")); len(got) != 1 || got[0] != ids["web"][:12] {
		t.Errorf("ps -q: %q", got)
	}
	if got := lines(docker.ok("ps", "-aq", "--no-trunc")); len(got) != 4 || !containsLine(got, ids["fresh"]) {
		t.Errorf("ps -aq --no-trunc: %q", got)
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"status=running", []string{"web"}},
		{"status=exited", []string{"failed", "okay"}},
		{"status=created", []string{"fresh"}},
		{"name=web", []string{"web"}},
		{"name=^/fr", []string{"fresh"}},
		{"label=env=prod", []string{"web"}},
		{"label=env", []string{"web"}},
		{"label=org.example.fixture=layered", []string{"fresh"}},
		{"ancestor=busybox", []string{"web", "failed", "okay"}},
		{"ancestor=fixture/layered:1.0", []string{"fresh"}},
		{"exited=2", []string{"failed"}},
		{"exited=0", []string{"okay"}},
		{"volume=pv", []string{"web"}},
		{"volume=/v", []string{"web"}},
		{"id=" + ids["okay"][:10], []string{"okay"}},
	} {
		if got := names("-a", "--filter", tc.filter); !sameSet(got, tc.want) {
			t.Errorf("ps -a --filter %s: %q, want %q", tc.filter, got, tc.want)
		}
	}
	docker.fail(1, "invalid filter", "ps", "--filter", "bogus=1")
	row := docker.out("ps", "-a", "--filter", "name=failed", "--format", "{{.ID}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.Names}}")
	if !regexp.MustCompile(`^[0-9a-f]{12}\|busybox\|"sh -c 'exit 2'"\|Exited \(2\) .* ago\|failed$`).MatchString(row) {
		t.Errorf("ps --format row: %q", row)
	}
	if out := docker.ok("ps"); !regexp.MustCompile(`(?m)^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$`).MatchString(out) || !strings.Contains(out, `"sleep 1000"`) {
		t.Errorf("ps table:\n%s", out)
	}

	// inspect: the fields the CLI uses.
	var ins []struct {
		Id, Name, Image, Path, LogPath string
		Args                           []string
		RestartCount                   int
		State                          struct {
			Status                     string
			Running, Paused, OOMKilled bool
			Pid, ExitCode              int
			StartedAt, FinishedAt      string
		}
		Config struct {
			Image, Hostname, WorkingDir string
			Cmd, Env                    []string
			Labels                      map[string]string
			Volumes                     map[string]any
		}
		HostConfig struct {
			NetworkMode   string
			Binds         []string
			RestartPolicy struct{ Name string }
			LogConfig     struct{ Type string }
		}
		Mounts []struct {
			Type, Name, Source, Destination, Driver string
			RW                                      bool
		}
	}
	if err := json.Unmarshal([]byte(docker.ok("inspect", "web", "fresh")), &ins); err != nil || len(ins) != 2 {
		t.Fatalf("docker inspect: %v (%d)", err, len(ins))
	}
	web, fresh := ins[0], ins[1]
	if web.Id != ids["web"] || web.Name != "/web" || web.Path != "sleep" || len(web.Args) != 1 || web.RestartCount != 0 ||
		web.State.Status != "running" || !web.State.Running || web.State.Pid == 0 || web.Config.Image != "busybox" ||
		web.Config.Labels["env"] != "prod" || web.HostConfig.RestartPolicy.Name != "no" || web.HostConfig.LogConfig.Type != "json-file" ||
		len(web.HostConfig.Binds) != 1 || web.Config.Hostname != ids["web"][:12] {
		t.Errorf("inspect web: %+v", web)
	}
	if len(web.Mounts) != 1 || web.Mounts[0].Type != "volume" || web.Mounts[0].Name != "pv" || web.Mounts[0].Destination != "/v" ||
		!web.Mounts[0].RW || web.Mounts[0].Driver != "local" || !strings.HasPrefix(web.Mounts[0].Source, d.dataRoot) {
		t.Errorf("inspect web Mounts: %+v", web.Mounts)
	}
	if fresh.State.Status != "created" || fresh.Config.WorkingDir != "/srv/www" || fresh.Config.Labels["org.example.fixture"] != "layered" ||
		len(fresh.Config.Cmd) != 6 || fresh.Config.Volumes["/data"] == nil || len(fresh.Mounts) != 1 || fresh.Mounts[0].Destination != "/data" {
		t.Errorf("inspect fresh: %+v", fresh)
	}
	if got := docker.inspect("{{.State.ExitCode}} {{.State.Status}}", "failed"); got != "2 exited" {
		t.Errorf("inspect failed: %s", got)
	}
	docker.fail(1, "No such object: nosuch", "inspect", "nosuch")

	// rename
	docker.ok("rename", "fresh", "renamed")
	if got := docker.inspect("{{.Name}}", ids["fresh"]); got != "/renamed" {
		t.Errorf("after rename: %s", got)
	}
	docker.fail(1, "Conflict", "rename", "renamed", "web")
	docker.fail(1, "No such container: fresh", "inspect", "--type", "container", "fresh")

	// prune removes the stopped containers only.
	out := docker.ok("container", "prune", "-f")
	for _, n := range []string{"failed", "okay", "fresh"} {
		if !strings.Contains(out, ids[n]) {
			t.Errorf("container prune did not list %s:\n%s", n, out)
		}
	}
	if got := names("-a"); !sameSet(got, []string{"web"}) {
		t.Errorf("after prune: %q", got)
	}

	// The image's documented default: httpd serving its page (the only
	// network is the host's).
	docker.ok("run", "-d", "--name", "httpd", "--network", "host", "fixture/layered:1.0", "httpd", "-f", "-p", "127.0.0.1:18080", "-h", "/srv/www")
	waitFor(t, 10*time.Second, "httpd", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:18080")
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		return strings.Contains(string(b), "<h1>berth fixture</h1>")
	})

	// Container events.
	docker.ok("run", "--rm", "--name", "ev", "busybox", "true")
	docker.ok("exec", "web", "true")
	docker.ok("stop", "-t", "1", "web")
	docker.ok("rm", "web")
	docker.ok("rm", "-f", "httpd")
	until := time.Now().Add(time.Second).Unix()
	evs := lines(docker.ok("events", "--since", strconv.FormatInt(since, 10), "--until", strconv.FormatInt(until, 10),
		"--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}"))
	for _, want := range []string{"create ev", "attach ev", "start ev", "die ev", "destroy ev", "create web", "start web",
		"exec_create: true web", "exec_start: true web", "exec_die web", "kill web", "stop web", "destroy web", "rename renamed", "destroy renamed"} {
		if !containsLine(evs, want) {
			t.Errorf("events lack %q:\n%s", want, strings.Join(evs, "\n"))
		}
	}
	// In order for one container.
	var order []string
	for _, e := range evs {
		if strings.HasSuffix(e, " ev") {
			order = append(order, strings.TrimSuffix(e, " ev"))
		}
	}
	if strings.Join(order, ",") != "create,attach,start,die,destroy" {
		t.Errorf("events of ev in order: %q", order)
	}
}

// TestContainerRunRmVolatileRoot: a `run --rm` container's root is mounted
// without syncs (overlay's volatile option: the layer is removed at the
// exit, or at the next start after a crash, so its writes never need to
// reach the disk), other containers' as usual; sync and restart work in
// such a container.
func TestContainerRunRmVolatileRoot(t *testing.T) {
	t.Parallel()
	_, docker := newContainerDocker(t, daemonOpts{}, false)
	if drv := docker.out("info", "--format", "{{.Driver}}"); drv != "overlay2" {
		t.Skipf("storage driver %s", drv)
	}
	root := func(mounts string) string {
		for _, l := range strings.Split(mounts, "\n") {
			if strings.HasPrefix(l, "overlay / ") {
				return l
			}
		}
		return mounts
	}
	rootLine := func(args ...string) string {
		return root(docker.ok(append(append([]string{"run"}, args...), "busybox", "cat", "/proc/mounts")...))
	}
	if l := rootLine("--rm"); !strings.Contains(l, "volatile") {
		t.Errorf("run --rm: root mounted %q, want volatile", l)
	}
	if l := rootLine("--name", "kept"); !strings.HasPrefix(l, "overlay / ") || strings.Contains(l, "volatile") {
		t.Errorf("run: root mounted %q, want overlay without volatile", l)
	}
	if out := docker.ok("run", "--rm", "busybox", "sh", "-c", "echo x > /f && sync && cat /f"); out != "x\n" {
		t.Errorf("write and sync in a --rm container: %q", out)
	}
	// Restarted, its layer is mounted again (overlay refuses a second
	// volatile mount of an upper until its marker is cleared).
	docker.ok("run", "-d", "--rm", "--name", "rs", "busybox", "sleep", "1000")
	docker.ok("restart", "-t", "0", "rs")
	if l := root(docker.ok("exec", "rs", "cat", "/proc/mounts")); !strings.Contains(l, "volatile") {
		t.Errorf("after restart: root mounted %q", l)
	}
	// As in Docker, the restart kept it; a later exit removes it.
	docker.ok("stop", "-t", "0", "rs")
	waitFor(t, 10*time.Second, "the --rm container to be removed after its stop", func() bool {
		return docker.out("ps", "-aq", "--filter", "name=rs") == ""
	})
}

// An image whose /etc and /dev are symlinks to host paths: creating and
// running its containers writes nothing there. The init layer replaces
// such symlinks, as Docker's does.
func TestContainerInitLayerSymlinks(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{}, false)
	host := t.TempDir() // stands for any host directory
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(busyboxRootfs(t)))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(hdr)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: host})
	tw.WriteHeader(&tar.Header{Name: "dev", Typeflag: tar.TypeSymlink, Linkname: "../../../../../.." + host})
	tw.Close()
	r := d.do("POST", "/v1.44/images/create?fromSrc=-&repo=symlinked&tag=1", buf.Bytes())
	expectStatus(t, r, 200, "import")
	if msg := streamError(r.body); msg != "" {
		t.Fatal(msg)
	}

	out := docker.out("run", "--rm", "--hostname", "inside", "symlinked:1", "/bin/sh", "-c", "cat /etc/hostname; ls -d /dev/pts")
	if out != "inside\n/dev/pts" {
		t.Errorf("container saw %q", out)
	}
	docker.ok("create", "--name", "kept", "symlinked:1", "/bin/true")
	if ents, _ := os.ReadDir(host); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the container's init layer wrote into the host's directory: %v", names)
	}
}
