package shim_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/container/shim"
)

func TestEchoToLogAndAttacher(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "echo hi; echo oops >&2")
	c := e.spawn(t)
	st, err := c.State(ctx(t))
	if err != nil || st.Status != shim.StatusCreated || st.Pid <= 0 {
		t.Fatalf("state before start: %+v, %v", st, err)
	}
	if c.InitPid() != st.Pid {
		t.Errorf("Spawn's client: init pid %d, State says %d", c.InitPid(), st.Pid)
	}
	conn, err := c.Attach(ctx(t), shim.AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx(t)); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second start: %v, want conflict", err)
	}
	out, serr := demux(t, conn)
	if out != "hi\n" || serr != "oops\n" {
		t.Errorf("attach got stdout %q stderr %q", out, serr)
	}
	ex, err := c.Wait(ctx(t))
	if err != nil || ex.Code != 0 || ex.OOMKilled || ex.At.IsZero() {
		t.Fatalf("wait: %+v, %v", ex, err)
	}
	if fromFile, err := shim.ReadExit(e.opts.StateDir); err != nil || fromFile.Code != 0 {
		t.Errorf("exit.json: %+v, %v", fromFile, err)
	}
	st, _ = c.State(ctx(t))
	if st.Status != shim.StatusStopped || st.Exit == nil {
		t.Errorf("state after exit: %+v", st)
	}
	// An attach after the exit ends at once.
	late, err := c.Attach(ctx(t), shim.AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(late); len(b) != 0 {
		t.Errorf("late attach got %q", b)
	}
	late.Close()
	if err := c.Kill(ctx(t), syscall.SIGTERM, false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("kill after exit: %v, want conflict", err)
	}
	logs := readLog(t, e.opts.LogPath)
	got := map[string]string{}
	for _, l := range logs {
		got[l["stream"]] += l["log"]
		if l["time"] == "" {
			t.Errorf("log entry without time: %v", l)
		}
	}
	if got["stdout"] != "hi\n" || got["stderr"] != "oops\n" {
		t.Errorf("log: %v", logs)
	}
	e.delete(t, c)
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 3"}, 3},
		// PID 1 of a pid namespace cannot SIGKILL itself: the code comes from the shell.
		{[]string{"sh", "-c", "sleep 100 & kill -9 $!; wait $!"}, 137},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.args...)
			if ex := e.run(t); ex.Code != tc.code || ex.OOMKilled {
				t.Errorf("exit %+v, want code %d", ex, tc.code)
			}
		})
	}
	t.Run("kill", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, "sleep", "100")
		c := e.spawn(t)
		if err := c.Start(ctx(t)); err != nil {
			t.Fatal(err)
		}
		// PID 1 of a pid namespace ignores SIGTERM without a handler.
		if err := c.Kill(ctx(t), syscall.SIGKILL, false); err != nil {
			t.Fatal(err)
		}
		ex, err := c.Wait(ctx(t))
		if err != nil || ex.Code != 137 {
			t.Fatalf("wait: %+v %v", ex, err)
		}
		e.delete(t, c)
	})
}

func TestMissingExecutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "nosuch")
	e.writeSpec(t)
	_, err := shim.Spawn(ctx(t), shimBin, e.opts)
	if err == nil || !strings.Contains(err.Error(), `exec: "nosuch": executable file not found in $PATH`) {
		t.Fatalf("spawn: %v", err)
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("spawn error %v is not invalid argument", err)
	}
	e.checkNoLeaks(t)
}

func TestSpawnErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "true")
	// No config.json.
	if _, err := shim.Spawn(ctx(t), shimBin, e.opts); err == nil {
		t.Fatal("spawn without config.json succeeded")
	}
	e.checkNoLeaks(t)
	// Not a shim binary.
	e.writeSpec(t)
	if _, err := shim.Spawn(ctx(t), "/bin/false", e.opts); err == nil {
		t.Fatal("spawn of /bin/false succeeded")
	}
	e.checkNoLeaks(t)
	if _, err := shim.Connect(ctx(t), e.opts.StateDir); !errors.Is(err, shim.ErrNoShim) {
		t.Errorf("connect to nothing: %v", err)
	}
}

func TestTerminal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "tty; echo out; echo err >&2; stty size")
	e.opts.Terminal = true
	c := e.spawn(t)
	if err := c.Resize(ctx(t), "", 30, 100); err != nil {
		t.Fatal(err)
	}
	conn, err := c.Attach(ctx(t), shim.AttachOptions{Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close()
	out := strings.ReplaceAll(string(b), "\r\n", "\n")
	if out != "/dev/pts/0\nout\nerr\n30 100\n" {
		t.Errorf("terminal output %q", out)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 0 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	for _, l := range readLog(t, e.opts.LogPath) {
		if l["stream"] != "stdout" {
			t.Errorf("terminal log entry on %q", l["stream"])
		}
	}
	e.delete(t, c)
}

func TestStdinAttach(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "cat")
	e.opts.OpenStdin, e.opts.StdinOnce = true, true
	c := e.spawn(t)
	conn, err := c.Attach(ctx(t), shim.AttachOptions{Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "hello\nworld\n"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, conn)
	out, _ := demux(t, conn)
	if out != "hello\nworld\n" {
		t.Errorf("cat echoed %q", out)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 0 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	e.delete(t, c)
}

func TestTerminalStdin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh")
	e.opts.Terminal, e.opts.OpenStdin = true, true
	c := e.spawn(t)
	conn, err := c.Attach(ctx(t), shim.AttachOptions{Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "echo $((6*7)); exit 4\n")
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), "42") {
		t.Errorf("shell output %q", b)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 4 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	e.delete(t, c)
}

func TestExec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sleep", "100")
	c := e.spawn(t)
	proc := func(terminal bool, args ...string) *specs.Process {
		p := *e.spec.Process
		p.Args, p.Terminal = args, terminal
		return &p
	}
	if _, _, err := c.Exec(ctx(t), "early", proc(false, "true"), false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("exec before start: %v, want conflict", err)
	}
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}

	conn, pid, err := c.Exec(ctx(t), "e1", proc(false, "sh", "-c", "echo out; echo err >&2; exit 5"), false)
	if err != nil {
		t.Fatal(err)
	}
	if pid <= 0 {
		t.Errorf("exec pid %d", pid)
	}
	out, serr := demux(t, conn)
	conn.Close()
	if out != "out\n" || serr != "err\n" {
		t.Errorf("exec output %q %q", out, serr)
	}
	if code, err := c.ExecWait(ctx(t), "e1"); err != nil || code != 5 {
		t.Errorf("exec wait: %d %v", code, err)
	}

	conn, _, err = c.Exec(ctx(t), "e2", proc(true, "sh", "-c", "tty; stty size"), false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close()
	if got := strings.ReplaceAll(string(b), "\r\n", "\n"); !strings.HasPrefix(got, "/dev/pts/") {
		t.Errorf("exec tty output %q", got)
	}
	if code, err := c.ExecWait(ctx(t), "e2"); err != nil || code != 0 {
		t.Errorf("exec wait: %d %v", code, err)
	}

	conn, _, err = c.Exec(ctx(t), "e3", proc(false, "cat"), true)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "piped\n")
	closeWrite(t, conn)
	out, _ = demux(t, conn)
	conn.Close()
	if out != "piped\n" {
		t.Errorf("exec stdin: %q", out)
	}
	if code, err := c.ExecWait(ctx(t), "e3"); err != nil || code != 0 {
		t.Errorf("exec wait: %d %v", code, err)
	}

	conn, _, err = c.Exec(ctx(t), "e4", proc(true, "sh"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(ctx(t), "e4", 20, 70); err != nil {
		t.Error(err)
	}
	io.WriteString(conn, "stty size; exit 7\n")
	b, _ = io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "20 70") {
		t.Errorf("exec tty stdin output %q", b)
	}
	if code, err := c.ExecWait(ctx(t), "e4"); err != nil || code != 7 {
		t.Errorf("exec wait: %d %v", code, err)
	}

	if _, _, err := c.Exec(ctx(t), "e5", proc(false, "nosuch"), false); err == nil || !errors.Is(err, errdefs.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("exec nosuch: %v", err)
	}
	if _, err := c.ExecWait(ctx(t), "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("exec wait of unknown: %v", err)
	}

	// An exec still running when the init exits is killed.
	conn, _, err = c.Exec(ctx(t), "e6", proc(false, "sleep", "100"), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx(t), syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	io.ReadAll(conn)
	conn.Close()
	if code, err := c.ExecWait(ctx(t), "e6"); err != nil || code != 137 {
		t.Errorf("exec wait after init exit: %d %v", code, err)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 137 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	e.delete(t, c)
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sleep", "100")
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(ctx(t)); st.Status != shim.StatusPaused {
		t.Errorf("state %+v, want paused", st)
	}
	if b, _ := os.ReadFile(cgroupFile(e.id, "freezer", "freezer.state")); strings.TrimSpace(string(b)) != "FROZEN" {
		t.Errorf("freezer.state %q", b)
	}
	if err := c.Resume(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(ctx(t)); st.Status != shim.StatusRunning {
		t.Errorf("state %+v, want running", st)
	}
	if err := c.Resume(ctx(t)); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("resume of running: %v, want conflict", err)
	}
	// A paused container is killed too.
	if err := c.Pause(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx(t), syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 137 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	e.delete(t, c)
}

func TestStatsPidsUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "sleep 100 & sleep 100; true")
	limit := int64(64 << 20)
	pids := int64(64)
	e.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit}
	e.spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	st, _ := c.State(ctx(t))
	var got []int
	waitFor(t, "3 pids", 5*time.Second, func() bool {
		got, _ = c.Pids(ctx(t))
		return len(got) == 3
	})
	if !slices.Contains(got, st.Pid) {
		t.Errorf("pids %v lack the init %d", got, st.Pid)
	}
	s, err := c.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryStats.Limit != uint64(limit) || s.MemoryStats.Usage == 0 || len(s.MemoryStats.Stats) == 0 {
		t.Errorf("memory stats %+v", s.MemoryStats)
	}
	if s.PidsStats.Current != 3 || s.PidsStats.Limit != 64 {
		t.Errorf("pids stats %+v", s.PidsStats)
	}
	if s.CPUStats.CPUUsage.TotalUsage == 0 || s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 {
		t.Errorf("cpu stats %+v", s.CPUStats)
	}

	newLimit := int64(128 << 20)
	quota, period := int64(50000), uint64(100000)
	if err := c.Update(ctx(t), &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &newLimit},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cgroupFile(e.id, "memory", "memory.limit_in_bytes")); strings.TrimSpace(string(b)) != strconv.FormatInt(newLimit, 10) {
		t.Errorf("memory.limit_in_bytes %q after update", b)
	}
	if b, _ := os.ReadFile(cgroupFile(e.id, "cpu", "cpu.cfs_quota_us")); strings.TrimSpace(string(b)) != "50000" {
		t.Errorf("cpu.cfs_quota_us %q after update", b)
	}
	if b, _ := os.ReadFile(cgroupFile(e.id, "pids", "pids.max")); strings.TrimSpace(string(b)) != "64" {
		t.Errorf("pids.max %q after update (must be kept)", b)
	}
	if s, _ := c.Stats(ctx(t)); s == nil || s.MemoryStats.Limit != uint64(newLimit) {
		t.Errorf("stats after update: %+v", s)
	}
	// Devices were kept: /dev/null still works.
	conn, _, err := c.Exec(ctx(t), "x", &specs.Process{Args: []string{"sh", "-c", "echo ok >/dev/null && echo fine"}, Cwd: "/", Env: e.spec.Process.Env}, false)
	if err != nil {
		t.Fatal(err)
	}
	if out, serr := demux(t, conn); out != "fine\n" {
		t.Errorf("exec after update: %q %q", out, serr)
	}
	conn.Close()
	if err := c.Kill(ctx(t), syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	e.delete(t, c)
}

func TestOOMKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done")
	limit := int64(16 << 20)
	e.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &limit}
	ex := e.run(t)
	if !ex.OOMKilled || ex.Code != 137 {
		t.Errorf("exit %+v, want OOM kill", ex)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done")
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err := shim.Connect(ctx(t), e.opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.InitPid() != 0 {
		t.Errorf("Connect's client knows an init pid (%d); it must ask State", c.InitPid())
	}
	conn, err := c.Attach(ctx(t), shim.AttachOptions{Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 1 {
		t.Fatalf("attach frame %v %v", hdr, err)
	}
	if err := c.Kill(ctx(t), syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, br)
	conn.Close()
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 137 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	e.delete(t, c)
}

// The daemon dies (SIGKILL) after starting a container: the container and
// its log live on, and a new client finds the shim again.
func TestDaemonGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.05; done")
	e.writeSpec(t)
	t.Cleanup(func() { shim.Cleanup(context.Background(), shimBin, e.opts.StateDir) })
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), spawnerEnv+"="+shimBin)
	cmd.Stdin = strings.NewReader(encodeOpts(e.opts))
	out, err := cmd.CombinedOutput()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("spawner: %v %s", err, out)
	}
	size := func() int64 {
		fi, err := os.Stat(e.opts.LogPath)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	s0 := size()
	waitFor(t, "the log to grow", 5*time.Second, func() bool { return size() > s0 })
	waitFor(t, "two log lines", 5*time.Second, func() bool {
		b, _ := os.ReadFile(e.opts.LogPath)
		return bytes.Count(b, []byte("\n")) >= 2
	})

	c, err := shim.Connect(ctx(t), e.opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.State(ctx(t))
	if err != nil || st.Status != shim.StatusRunning {
		t.Fatalf("state %+v %v", st, err)
	}
	conn, _, err := c.Exec(ctx(t), "x", &specs.Process{Args: []string{"echo", "exec-ok"}, Cwd: "/", Env: e.spec.Process.Env}, false)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := demux(t, conn); out != "exec-ok\n" {
		t.Errorf("exec: %q", out)
	}
	conn.Close()
	if err := c.Kill(ctx(t), syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != 137 {
		t.Fatalf("wait %+v %v", ex, err)
	}
	if n := len(readLog(t, e.opts.LogPath)); n < 2 {
		t.Errorf("only %d log lines", n)
	}
	e.delete(t, c)
}

const spawnerEnv = "BERTH_SHIM_TEST_SPAWNER"

func encodeOpts(o shim.Options) string {
	return strings.Join([]string{o.ID, o.Bundle, o.StateDir, o.RuntimeRoot, o.LogPath}, "\n")
}

// spawnerMain plays a daemon that spawns and starts a container, then is
// killed.
func spawnerMain() {
	b, _ := io.ReadAll(os.Stdin)
	f := strings.Split(string(b), "\n")
	o := shim.Options{ID: f[0], Bundle: f[1], StateDir: f[2], RuntimeRoot: f[3], LogPath: f[4], LogMaxFiles: 1}
	c, err := shim.Spawn(context.Background(), os.Getenv(spawnerEnv), o)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := c.Start(context.Background()); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
}

func TestShimIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sleep", "100")
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		syscall.Kill(c.Pid(), sig)
	}
	time.Sleep(50 * time.Millisecond)
	st, err := c.State(ctx(t))
	if err != nil || st.Status != shim.StatusRunning {
		t.Fatalf("state after signals to the shim: %+v %v", st, err)
	}
	// The container's init did not inherit ignored signals.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			if n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64); n&(1<<(syscall.SIGTERM-1)|1<<(syscall.SIGINT-1)|1<<(syscall.SIGHUP-1)) != 0 {
				t.Errorf("container init ignores signals: SigIgn %s", v)
			}
		}
	}
	c.Kill(ctx(t), syscall.SIGKILL, false)
	c.Wait(ctx(t))
	e.delete(t, c)
}

func TestCleanupKilledShim(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprintf("started=%v", started), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "sleep", "100")
			c := e.spawn(t)
			if started {
				if err := c.Start(ctx(t)); err != nil {
					t.Fatal(err)
				}
			}
			st, _ := c.State(ctx(t))
			syscall.Kill(c.Pid(), syscall.SIGKILL)
			waitFor(t, "the shim to die", 5*time.Second, func() bool { return !alive(c.Pid()) })
			if _, err := shim.Connect(ctx(t), e.opts.StateDir); !errors.Is(err, shim.ErrNoShim) {
				t.Errorf("connect to a dead shim: %v", err)
			}
			if !alive(st.Pid) {
				t.Errorf("container init %d died with its shim", st.Pid)
			}
			if _, err := shim.ReadExit(e.opts.StateDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("exit.json of a running container: %v", err)
			}
			for i := 0; i < 2; i++ {
				if err := shim.Cleanup(ctx(t), shimBin, e.opts.StateDir); err != nil {
					t.Fatalf("cleanup #%d: %v", i+1, err)
				}
			}
			if alive(st.Pid) {
				t.Errorf("container init %d survived cleanup", st.Pid)
			}
			e.checkNoLeaks(t)
		})
	}
}

// A crash between libcontainer's Create and the init's start leaves a state
// dir with only exec.fifo and empty cgroup dirs.
func TestCleanupCrashLeftovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "true")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(e.opts.StateDir, 0o711))
	must(os.WriteFile(filepath.Join(e.opts.StateDir, shim.OptionsFile), []byte(`{"ID":"`+e.id+`","StateDir":"`+e.opts.StateDir+`","RuntimeRoot":"`+e.opts.RuntimeRoot+`"}`), 0o600))
	must(os.WriteFile(filepath.Join(e.opts.StateDir, shim.PidFile), []byte("1"), 0o600))
	rt := filepath.Join(e.opts.RuntimeRoot, e.id)
	must(os.MkdirAll(rt, 0o711))
	must(syscall.Mkfifo(filepath.Join(rt, "exec.fifo"), 0o622))
	paths := map[string]string{}
	for _, ctl := range []string{"memory", "pids", "cpu", "freezer", "devices", "unified"} {
		p := cgroupFile(e.id, ctl, "")
		must(os.MkdirAll(p, 0o755))
		paths[ctl] = p
	}
	var js []string
	for k, v := range paths {
		js = append(js, fmt.Sprintf("%q:%q", k, v))
	}
	sort.Strings(js)
	must(os.WriteFile(filepath.Join(e.opts.StateDir, "cgroups.json"), []byte("{"+strings.Join(js, ",")+"}"), 0o600))
	if err := shim.Cleanup(ctx(t), shimBin, e.opts.StateDir); err != nil {
		t.Fatal(err)
	}
	e.checkNoLeaks(t)
}

func TestDeleteRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sleep", "100")
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx(t)); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("delete of running: %v, want conflict", err)
	}
	// A waiter that gives up does not disturb the shim.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait with deadline: %v", err)
	}
	c.Kill(ctx(t), syscall.SIGKILL, false)
	if _, err := c.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	e.delete(t, c)
}

// TestStartLatency measures Spawn+Start+Wait+Delete of `true`.
func TestStartLatency(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("short")
	}
	var ds []time.Duration
	var phases [4][]time.Duration
	for i := 0; i < 20; i++ {
		e := newEnv(t, "true")
		e.writeSpec(t)
		t0 := time.Now()
		c, err := shim.Spawn(ctx(t), shimBin, e.opts)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Start(ctx(t)); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		if _, err := c.Wait(ctx(t)); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		if _, err := c.Delete(ctx(t)); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		ds = append(ds, t4.Sub(t0))
		for j, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
			phases[j] = append(phases[j], d)
		}
	}
	for j, name := range []string{"spawn", "start", "wait", "delete"} {
		slices.Sort(phases[j])
		t.Logf("  %s: median %v", name, phases[j][10])
	}
	slices.Sort(ds)
	t.Logf("Spawn+Start+Wait+Delete of true: median %v, min %v, max %v (n=20)", ds[10], ds[0], ds[19])
}

// TestShimRSS measures the memory of an idle shim owning a running sleep.
func TestShimRSS(t *testing.T) {
	e := newEnv(t, "sleep", "100")
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The shim trims itself after 500 ms idle.
	time.Sleep(800 * time.Millisecond)
	rss := procField(c.Pid(), "status", "VmRSS:")
	pss := procField(c.Pid(), "smaps_rollup", "Pss:")
	priv := procField(c.Pid(), "smaps_rollup", "Private_Dirty:")
	anon := procField(c.Pid(), "status", "RssAnon:")
	t.Logf("idle shim: VmRSS %d KiB (RssAnon %d KiB), Pss %d KiB, Private_Dirty %d KiB", rss, anon, pss, priv)
	if os.Getenv("SHIM_SMAPS") != "" {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", c.Pid()))
		os.WriteFile(os.Getenv("SHIM_SMAPS"), b, 0o644)
	}
	// The file-backed part of VmRSS (the binary's text and rodata, libc) is
	// page cache shared by all shims; what each container costs is the
	// anonymous part.
	if anon > 5*1024 {
		t.Errorf("shim anonymous RSS %d KiB is over 5 MiB", anon)
	}
	c.Kill(ctx(t), syscall.SIGKILL, false)
	c.Wait(ctx(t))
	e.delete(t, c)
}

func procField(pid int, file, key string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}
