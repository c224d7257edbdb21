package integration

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// newBerthContainerCLI starts a daemon with busybox:latest loaded and
// returns berth pointed at it.
func newBerthContainerCLI(t *testing.T) (*daemon, *berthCLI) {
	t.Helper()
	d := startDaemon(t, daemonOpts{})
	berth := newBerthCLI(t, d)
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	return d, berth
}

var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestBerthCLIContainerRunForeground(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)

	r := berth.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
	if r.exitCode != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("run with exit 3: %s", r)
	}
	if out := berth.ok("run", "--rm", "-e", "A=1", "-w", "/tmp", "busybox", "sh", "-c", "echo $A; pwd"); out != "1\n/tmp\n" {
		t.Errorf("run -e -w: %q", out)
	}
	// Stdin is passed with -i and closed at its end.
	r = runCLIStdin(t, berth, "hello\n", "run", "--rm", "-i", "busybox", "cat")
	if r.exitCode != 0 || r.stdout != "hello\n" {
		t.Errorf("run -i cat: %s", r)
	}
	// --rm leaves nothing behind.
	if out := strings.TrimSpace(berth.ok("ps", "-aq")); out != "" {
		t.Errorf("containers left after --rm: %q", out)
	}
	// A missing command is docker's 127, one that cannot run 126, a
	// daemon error 125. (Like docker, berth may also log that the wait for
	// the --rm container failed, before or after the error.)
	r = berth.run("run", "--rm", "busybox", "no-such-command")
	if r.exitCode != 127 || !strings.Contains(r.stderr, "berth: Error response from daemon: ") ||
		!strings.Contains(r.stderr, "executable file not found") {
		t.Errorf("run missing command: %s", r)
	}
	r = berth.run("run", "--rm", "busybox", "/etc")
	if r.exitCode != 126 || !strings.Contains(r.stderr, "berth: Error response from daemon: ") {
		t.Errorf("run of a directory: %s", r)
	}
	r = berth.run("run", "--pull", "never", "no-such-image-here")
	if r.exitCode != 125 || !strings.Contains(r.stderr, "berth: Error response from daemon: No such image: no-such-image-here:latest") ||
		!strings.Contains(r.stderr, "Run 'berth run --help' for more information") {
		t.Errorf("run missing image: %s", r)
	}
	r = berth.run("run", "--restart", "always", "--rm", "busybox")
	if r.exitCode != 125 || !strings.Contains(r.stderr, "conflicting options: cannot specify both --restart and --rm") {
		t.Errorf("run --restart --rm: %s", r)
	}
}

// runCLIStdin runs berth with input on stdin.
func runCLIStdin(t *testing.T, berth *berthCLI, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := execBerth(berth, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), exitCode: code}
}

func TestBerthCLIContainerLifecycle(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)

	id := strings.TrimSpace(berth.ok("run", "-d", "--name", "web", "-l", "app=x", "busybox",
		"sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 1; done"))
	if !fullID.MatchString(id) {
		t.Fatalf("run -d printed %q, want a full ID", id)
	}
	waitFor(t, 10*time.Second, "logs", func() bool { return berth.run("logs", "web").stdout == "started\n" })

	out := berth.ok("ps")
	if !regexp.MustCompile(`(?m)^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+id[:12]+`\s+busybox\s+"sh -c 'echo started…"\s+.* ago\s+Up .*\s+web$`).MatchString(out) {
		t.Errorf("ps:\n%s", out)
	}
	if out := berth.ok("ps", "-q", "--no-trunc", "-f", "label=app=x"); strings.TrimSpace(out) != id {
		t.Errorf("ps -q --no-trunc -f label: %q", out)
	}
	if out := berth.ok("container", "ls", "--format", "{{.Names}} {{.State}}"); out != "web running\n" {
		t.Errorf("container ls --format: %q", out)
	}
	if out := berth.ok("inspect", "-f", "{{.State.Running}} {{.Name}} {{index .Config.Labels \"app\"}}", "web"); out != "true /web x\n" {
		t.Errorf("inspect -f: %q", out)
	}
	if out := berth.ok("container", "inspect", "web"); !strings.HasPrefix(out, "[\n    {\n") || !strings.Contains(out, id) {
		t.Errorf("container inspect:\n%s", out)
	}
	// A template that does not fit the object is retried on its JSON, and
	// the error is docker's.
	if r := berth.run("inspect", "-f", "{{.State.Status}}", "web", "busybox"); r.exitCode != 1 || r.stdout != "running\n" ||
		!strings.Contains(r.stderr, `template parsing error: template: :1:8: executing "" at <.State.Status>: map has no entry for key "State"`) {
		t.Errorf("inspect -f of a container and an image: %s", r)
	}

	if out := berth.ok("exec", "web", "sh", "-c", "echo $((6*7))"); out != "42\n" {
		t.Errorf("exec: %q", out)
	}
	if r := berth.run("exec", "web", "sh", "-c", "exit 5"); r.exitCode != 5 {
		t.Errorf("exec exit 5: %s", r)
	}
	if r := berth.run("exec", "web", "no-such-command"); r.exitCode != 127 || !strings.Contains(r.stdout+r.stderr, "executable file not found") {
		t.Errorf("exec missing command: %s", r)
	}
	if r := berth.run("exec", "web", "/etc"); r.exitCode != 126 {
		t.Errorf("exec of a directory: %s", r)
	}
	// Detached, a command that cannot start is a plain error, as in docker.
	if r := berth.run("exec", "-d", "web", "no-such-command"); r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: ") {
		t.Errorf("exec -d missing command: %s", r)
	}
	if out := berth.ok("exec", "-e", "X=y", "-w", "/etc", "web", "sh", "-c", "echo $X; pwd"); out != "y\n/etc\n" {
		t.Errorf("exec -e -w: %q", out)
	}
	if out := berth.ok("top", "web"); !strings.Contains(out, "PID") || !strings.Contains(out, "sleep") && !strings.Contains(out, "sh -c") {
		t.Errorf("top:\n%s", out)
	}

	if out := berth.ok("pause", "web"); out != "web\n" {
		t.Errorf("pause: %q", out)
	}
	if out := berth.ok("ps", "--format", "{{.Status}}"); !strings.Contains(out, "(Paused)") {
		t.Errorf("ps after pause: %q", out)
	}
	berth.ok("unpause", "web")

	if out := berth.ok("stats", "--no-stream", "web"); !regexp.MustCompile(`(?m)^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+NET I/O\s+BLOCK I/O\s+PIDS\n` + id[:12] + `\s+web\s+\d+\.\d\d%`).MatchString(out) {
		t.Errorf("stats --no-stream:\n%s", out)
	}
	if r := berth.run("update", "web"); r.exitCode != 1 || r.stderr != "you must provide one or more flags when using this command\n" {
		t.Errorf("update without flags: %s", r)
	}
	if out := berth.ok("update", "--memory", "64m", "--restart", "on-failure:2", "web"); out != "web\n" {
		t.Errorf("update: %q", out)
	}
	if out := berth.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", "web"); out != "67108864 on-failure\n" {
		t.Errorf("after update: %q", out)
	}

	berth.ok("rename", "web", "web2")
	if r := berth.run("rename", "nope", "other"); r.exitCode != 1 ||
		r.stderr != "Error response from daemon: No such container: nope\nError: failed to rename container named nope\n" {
		t.Errorf("rename of a missing container: %s", r)
	}
	if out := berth.ok("stop", "-t", "5", "web2"); out != "web2\n" {
		t.Errorf("stop: %q", out)
	}
	if out := berth.ok("wait", "web2"); out != "0\n" {
		t.Errorf("wait: %q", out)
	}
	if out := berth.ok("ps", "-a", "--format", "{{.Names}}\t{{.Status}}"); !regexp.MustCompile(`^web2\tExited \(0\) .* ago\n$`).MatchString(out) {
		t.Errorf("ps -a after stop: %q", out)
	}
	if out := berth.ok("start", "web2"); out != "web2\n" {
		t.Errorf("start: %q", out)
	}
	berth.ok("restart", "-t", "1", "web2")
	if out := berth.ok("kill", "-s", "KILL", "web2"); out != "web2\n" {
		t.Errorf("kill: %q", out)
	}
	if out := berth.ok("wait", "web2"); out != "137\n" {
		t.Errorf("wait after kill: %q", out)
	}
	if out := berth.ok("rm", "web2"); out != "web2\n" {
		t.Errorf("rm: %q", out)
	}
	r := berth.run("rm", "web2")
	if r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon: No such container: web2") {
		t.Errorf("rm again: %s", r)
	}
	// -f reports a missing container but does not fail, as docker 28.
	if r := berth.run("rm", "-f", "web2"); r.exitCode != 0 || r.stderr != "Error response from daemon: No such container: web2\n" {
		t.Errorf("rm -f of a missing container: %s", r)
	}
}

func TestBerthCLIContainerCreateStartAttach(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)

	id := strings.TrimSpace(berth.ok("create", "--name", "c1", "busybox", "sh", "-c", "echo hi; exit 2"))
	if !fullID.MatchString(id) {
		t.Fatalf("create printed %q", id)
	}
	if out := berth.ok("ps", "-a", "--format", "{{.Names}} {{.State}}"); out != "c1 created\n" {
		t.Errorf("ps -a after create: %q", out)
	}
	r := berth.run("start", "-a", "c1")
	if r.exitCode != 2 || r.stdout != "hi\n" {
		t.Errorf("start -a: %s", r)
	}
	if out := berth.ok("logs", "c1"); out != "hi\n" {
		t.Errorf("logs: %q", out)
	}
	if out := berth.ok("logs", "-t", "c1"); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+Z hi\n$`).MatchString(out) {
		t.Errorf("logs -t: %q", out)
	}
	r = berth.run("start", "nope")
	if r.exitCode != 1 || r.stderr != "Error response from daemon: No such container: nope\nError: failed to start containers: nope\n" {
		t.Errorf("start nope: %s", r)
	}
	// Logs of a TTY container are raw.
	berth.ok("run", "-t", "--name", "tty", "busybox", "echo", "tty-out")
	if out := berth.ok("logs", "tty"); out != "tty-out\r\n" {
		t.Errorf("logs of a TTY container: %q", out)
	}
	if out := berth.ok("container", "prune", "-f"); !strings.Contains(out, "Deleted Containers:\n") || !strings.Contains(out, id) ||
		!strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("container prune:\n%s", out)
	}
	if out := strings.TrimSpace(berth.ok("ps", "-aq")); out != "" {
		t.Errorf("left after prune: %q", out)
	}
}

func TestBerthCLIContainerCopy(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)
	dir := t.TempDir()
	berth.ok("run", "-d", "--name", "cp", "busybox", "sleep", "300")
	t.Cleanup(func() { berth.run("rm", "-f", "cp") })

	// Host file into an existing directory, then back out under a new name.
	src := filepath.Join(dir, "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0o644)
	berth.ok("cp", src, "cp:/tmp")
	if out := berth.ok("exec", "cp", "cat", "/tmp/hello.txt"); out != "hello\n" {
		t.Errorf("after cp in: %q", out)
	}
	berth.ok("cp", "cp:/tmp/hello.txt", filepath.Join(dir, "back.txt"))
	if b, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(b) != "hello\n" {
		t.Errorf("cp out: %q", b)
	}
	// A directory copies as itself, or its contents with "/.".
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "f"), []byte("f"), 0o644)
	berth.ok("cp", tree, "cp:/tmp/newtree")
	if out := berth.ok("exec", "cp", "cat", "/tmp/newtree/sub/f"); out != "f" {
		t.Errorf("dir to a new path: %q", out)
	}
	berth.ok("exec", "cp", "mkdir", "/tmp/into")
	berth.ok("cp", tree+"/.", "cp:/tmp/into")
	if out := berth.ok("exec", "cp", "cat", "/tmp/into/sub/f"); out != "f" {
		t.Errorf("dir/. contents: %q", out)
	}
	// A file to a directory path that does not exist fails, as in docker.
	if r := berth.run("cp", src, "cp:/tmp/nodir/"); r.exitCode != 1 || r.stderr != "no such directory\n" {
		t.Errorf("cp to missing dir/: %s", r)
	}
	// "-" streams a tar both ways.
	r := berth.run("cp", "cp:/etc/hostname", "-")
	if r.exitCode != 0 {
		t.Fatalf("cp to -: %s", r)
	}
	tr := tar.NewReader(strings.NewReader(r.stdout))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "hostname" {
		t.Errorf("cp to -: first entry %v %v", hdr, err)
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "from-stdin", Mode: 0o644, Size: 3})
	tw.Write([]byte("abc"))
	tw.Close()
	if r := runCLIStdin(t, berth, tarball.String(), "cp", "-", "cp:/tmp"); r.exitCode != 0 {
		t.Errorf("cp from -: %s", r)
	}
	if out := berth.ok("exec", "cp", "cat", "/tmp/from-stdin"); out != "abc" {
		t.Errorf("after cp from -: %q", out)
	}
	if r := berth.run("cp", "cp:/no/such/file", dir); r.exitCode != 1 || !strings.Contains(r.stderr, "Error response from daemon:") {
		t.Errorf("cp of a missing path: %s", r)
	}
}

func TestBerthCLIContainerCommitExport(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)
	dir := t.TempDir()
	berth.ok("run", "--name", "src", "busybox", "sh", "-c", "echo data > /marker")
	id := strings.TrimSpace(berth.ok("commit", "-m", "msg", "-a", "me", "-c", "ENV COMMITTED=1", "src", "committed:1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Errorf("commit printed %q", id)
	}
	if out := berth.ok("run", "--rm", "committed:1", "sh", "-c", "cat /marker; echo $COMMITTED"); out != "data\n1\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	out := filepath.Join(dir, "fs.tar")
	berth.ok("export", "-o", out, "src")
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	found := false
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("export: %v", err)
		}
		if strings.TrimPrefix(h.Name, "./") == "marker" {
			found = true
		}
	}
	if !found {
		t.Error("export lacks /marker")
	}
}

func TestBerthCLIContainerPorts(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)
	berth.ok("create", "--name", "pp", "-p", "127.0.0.1:18080:80", "-p", "53/udp", "busybox", "true")
	if out := berth.ok("inspect", "-f", "{{json .HostConfig.PortBindings}}", "pp"); !strings.Contains(out, `"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]`) {
		t.Errorf("port bindings: %s", out)
	}
	if out := berth.ok("inspect", "-f", "{{json .Config.ExposedPorts}}", "pp"); !strings.Contains(out, `"53/udp":{}`) || !strings.Contains(out, `"80/tcp":{}`) {
		t.Errorf("exposed ports: %s", out)
	}
	// `port` shows mappings of a running container only: none here.
	if out := berth.ok("port", "pp"); out != "" {
		t.Errorf("port of a created container: %q", out)
	}
	if r := berth.run("port", "pp", "80"); r.exitCode != 1 || r.stderr != "Error: No public port '80' published for pp\n" {
		t.Errorf("port of an unpublished port: %s", r)
	}
}

// execBerth is the command runCLI would run, for tests that need stdin.
func execBerth(berth *berthCLI, args ...string) *exec.Cmd {
	cmd := exec.Command(berthBin, append([]string{"-H", berth.host}, args...)...)
	cmd.Env = berth.env
	return cmd
}

// ptyCLI is berth running on a pseudo-terminal (its stdin, stdout and
// stderr), as a person at a terminal would run it.
type ptyCLI struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{} // closed once berth exited and its output is read
}

// startPTY runs berth with args on a new 24x80 terminal.
func startPTY(t *testing.T, berth *berthCLI, args ...string) *ptyCLI {
	t.Helper()
	p := &ptyCLI{t: t, cmd: execBerth(berth, args...), done: make(chan struct{})}
	tty, err := pty.StartWithSize(p.cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatalf("berth %v on a pty: %v", args, err)
	}
	p.tty = tty
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil { // EIO once berth and its children closed the terminal
				return
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		// Output still buffered in the terminal is read before done.
		select {
		case <-read:
		case <-time.After(2 * time.Second):
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		tty.Close()
	})
	return p
}

func (p *ptyCLI) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// expect waits until the output matches re.
func (p *ptyCLI) expect(re string) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for !rx.MatchString(p.output()) {
		if time.Now().After(deadline) {
			p.t.Fatalf("berth %v: no %q in the terminal after 15s:\n%q", p.cmd.Args[3:], re, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send types s.
func (p *ptyCLI) send(s string) {
	p.t.Helper()
	if _, err := p.tty.WriteString(s); err != nil {
		p.t.Fatalf("typing %q: %v", s, err)
	}
}

// exitCode waits for berth to exit.
func (p *ptyCLI) exitCode() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Fatalf("berth %v did not exit within 15s; terminal:\n%q", p.cmd.Args[3:], p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

const shPrompt = `/ # `

func TestBerthCLIContainerRunTTY(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)

	// An interactive shell: what is typed runs, and exit ends berth with
	// the shell's status.
	p := startPTY(t, berth, "run", "-it", "--name", "it", "busybox", "sh")
	p.expect(shPrompt)
	p.send("echo hello\r")
	p.expect(`echo hello\r\nhello\r\n`)
	p.send("tty; stty size\r")
	p.expect(`/dev/pts/\d+\r\n24 80\r\n`)
	p.send("exit\r")
	if code := p.exitCode(); code != 0 {
		t.Errorf("run -it, exit: status %d; terminal:\n%q", code, p.output())
	}
	if out := berth.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "it"); out != "exited 0\n" {
		t.Errorf("after exit: %q", out)
	}
	p = startPTY(t, berth, "run", "-it", "--rm", "busybox", "sh", "-c", "exit 3")
	if code := p.exitCode(); code != 3 {
		t.Errorf("run -it sh -c 'exit 3': status %d; terminal:\n%q", code, p.output())
	}

	// exec -it in a running container.
	berth.ok("run", "-d", "--name", "bg", "busybox", "sleep", "300")
	t.Cleanup(func() { berth.run("rm", "-f", "bg") })
	p = startPTY(t, berth, "exec", "-it", "bg", "sh")
	p.expect(shPrompt)
	p.send("echo $((6*7))\r")
	p.expect(`\r\n42\r\n`)
	p.send("exit 4\r")
	if code := p.exitCode(); code != 4 {
		t.Errorf("exec -it, exit 4: status %d; terminal:\n%q", code, p.output())
	}
}

func TestBerthCLIContainerAttachDetach(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)
	berth.ok("run", "-dit", "--name", "dt", "busybox", "sh")

	// ctrl-p ctrl-q leaves the container running; docker attach then says
	// "read escape sequence" and exits 1.
	p := startPTY(t, berth, "attach", "dt")
	p.send("echo hi-$((1+1))\r")
	p.expect(`\r\nhi-2\r\n`)
	p.send("\x10\x11")
	if code := p.exitCode(); code != 1 || !strings.Contains(p.output(), "read escape sequence") {
		t.Errorf("attach, ctrl-p ctrl-q: status %d; terminal:\n%q", code, p.output())
	}
	if out := berth.ok("inspect", "-f", "{{.State.Running}}", "dt"); out != "true\n" {
		t.Fatalf("after detaching: running %q", out)
	}
	// Attached again, the same shell answers; its exit ends the attach.
	p = startPTY(t, berth, "attach", "dt")
	p.send("echo again\r")
	p.expect(`\r\nagain\r\n`)
	p.send("exit 0\r")
	if code := p.exitCode(); code != 0 {
		t.Errorf("attach, exit: status %d; terminal:\n%q", code, p.output())
	}
}

func TestBerthCLIContainerRunDetach(t *testing.T) {
	t.Parallel()
	_, berth := newBerthContainerCLI(t)
	// The detached shells keep running: remove them before the daemon
	// stops (a stop would wait out their stop timeout).
	t.Cleanup(func() { berth.run("rm", "-f", "det", "det2") })

	// ctrl-p ctrl-q detaches `run -it` silently, with status 0, and the
	// container goes on running.
	p := startPTY(t, berth, "run", "-it", "--name", "det", "busybox", "sh")
	p.expect(shPrompt)
	p.send("echo before\r")
	p.expect(`\r\nbefore\r\n`)
	p.send("\x10\x11")
	if code := p.exitCode(); code != 0 || strings.Contains(p.output(), "escape") {
		t.Errorf("run -it, ctrl-p ctrl-q: status %d; terminal:\n%q", code, p.output())
	}
	time.Sleep(200 * time.Millisecond)
	if out := berth.ok("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", "det"); out != "true 0\n" {
		t.Fatalf("after detaching from run -it: running, exit code = %q, want \"true 0\"", out)
	}
	// A custom sequence works the same.
	p = startPTY(t, berth, "run", "-it", "--detach-keys", "ctrl-x,x", "--name", "det2", "busybox", "sh")
	p.expect(shPrompt)
	p.send("\x18x")
	if code := p.exitCode(); code != 0 {
		t.Errorf("run -it --detach-keys ctrl-x,x: status %d; terminal:\n%q", code, p.output())
	}
	time.Sleep(200 * time.Millisecond)
	if out := berth.ok("inspect", "-f", "{{.State.Running}}", "det2"); out != "true\n" {
		t.Errorf("after detaching with ctrl-x,x: running %q", out)
	}
}
