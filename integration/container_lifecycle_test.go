package integration

// Container lifecycle and reliability, end to end through a real berthd:
// stop/kill/restart/wait semantics, restart policies, berthd restarts with
// and without live-restore, crashes of berthd and of shims, removal with
// volumes and the quota, and, after each, that nothing leaked: no shim
// process, no mount under the daemon's directories, no cgroup under the
// test's own cgroup parent, no runtime state directory.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containertypes "github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/shim"
)

// lifecycle is a berthd with busybox loaded, its own cgroup parent, and a
// docker CLI pointed at it.
type lifecycle struct {
	t            *testing.T
	d            *daemon
	docker       *dockerCLI
	cgroupParent string // "/berth-lt-<hex>"
}

// newLifecycle starts a berthd for a lifecycle test. Its cleanup stops the
// daemon and removes whatever a failed test left (shims, container
// processes, mounts, cgroups), so that a failure does not leak into the
// machine.
func newLifecycle(t *testing.T, opts daemonOpts) *lifecycle {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	l := &lifecycle{t: t, cgroupParent: "/berth-lt-" + hex.EncodeToString(b)}
	opts.args = append(opts.args, "--cgroup-parent", l.cgroupParent)
	l.d = newDaemon(t, opts)
	t.Cleanup(func() {
		// Runs before the daemon's own cleanup and the removal of its
		// directories: stop it, then sweep.
		l.d.stop()
		l.sweep()
	})
	l.d.start()
	l.docker = newDockerCLI(t, l.d)
	l.d.load(t, fixture(t, "busybox-docker-save.tar"))
	return l
}

// leaks lists what is left of this daemon's containers: shim processes,
// processes in its cgroups, mounts under its directories, cgroup dirs
// under its cgroup parent, and shim and libcontainer state dirs.
func (l *lifecycle) leaks() []string {
	var out []string
	for _, pid := range l.shimPids() {
		out = append(out, fmt.Sprintf("shim process %d", pid))
	}
	for _, pid := range l.cgroupPids() {
		out = append(out, fmt.Sprintf("process %d in a container cgroup", pid))
	}
	for _, m := range l.mounts() {
		out = append(out, "mount "+m)
	}
	for _, dir := range l.cgroupDirs() {
		out = append(out, "cgroup "+dir)
	}
	for _, sub := range []string{"containers", "runtime"} {
		entries, _ := os.ReadDir(filepath.Join(l.d.execRoot, sub))
		for _, e := range entries {
			out = append(out, "state "+filepath.Join(l.d.execRoot, sub, e.Name()))
		}
	}
	return out
}

// expectNoLeaks fails the test if anything is left; what is being torn
// down has 5s to go.
func (l *lifecycle) expectNoLeaks(when string) {
	l.t.Helper()
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		if left = l.leaks(); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Errorf("%s: leaked:\n  %s", when, strings.Join(left, "\n  "))
}

// shimPids are the berth-shim processes serving a state dir of this daemon:
// started for it (serve <state-dir>), or started ahead of need and given
// it (wait <pool-dir>, its stdout then on the state dir's shim.log). The
// one warm shim waiting for the next start is not a leak: it exits with
// berthd.
func (l *lifecycle) shimPids() []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "berth-shim" {
			continue
		}
		dir := args[2]
		if args[1] == "wait" {
			dir, _ = os.Readlink(filepath.Join(filepath.Dir(p), "fd", "1"))
		}
		if strings.HasPrefix(dir, l.d.execRoot+"/containers/") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if lcPidAlive(pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// cgroupPids are the live processes in a cgroup under this test's parent.
func (l *lifecycle) cgroupPids() []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), ":"+l.cgroupParent+"/") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if lcPidAlive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// mounts are the mount points under the daemon's temporary directory (its
// data root and exec root).
func (l *lifecycle) mounts() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		l.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (strings.HasPrefix(f[4], l.d.dir+"/") || (l.d.sock != "" && strings.HasPrefix(f[4], filepath.Dir(l.d.sock)+"/"))) {
			out = append(out, f[4])
		}
	}
	return out
}

// cgroupDirs are the container cgroups under the test's parent, in every
// hierarchy.
func (l *lifecycle) cgroupDirs() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + l.cgroupParent + "/*")
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// sweep removes what a failed test left behind, and the cgroup parent.
func (l *lifecycle) sweep() {
	for _, pid := range l.shimPids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for i := 0; i < 50; i++ {
		pids := l.cgroupPids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		// A frozen cgroup keeps its killed processes until thawed.
		frozen, _ := filepath.Glob("/sys/fs/cgroup/freezer" + l.cgroupParent + "/*/freezer.state")
		for _, f := range frozen {
			os.WriteFile(f, []byte("THAWED"), 0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mounts := l.mounts()
	for i := len(mounts) - 1; i >= 0; i-- {
		syscall.Unmount(mounts[i], syscall.MNT_DETACH)
	}
	for _, d := range l.cgroupDirs() {
		os.Remove(d)
	}
	parents, _ := filepath.Glob("/sys/fs/cgroup/*" + l.cgroupParent)
	for _, p := range parents {
		os.Remove(p)
	}
}

// pidAlive tells whether pid exists and is not a zombie.
func lcPidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

// inspect returns GET /containers/{name}/json.
func (l *lifecycle) inspect(name string) containertypes.InspectResponse {
	l.t.Helper()
	r := l.d.do(http.MethodGet, "/containers/"+name+"/json", nil)
	expectStatus(l.t, r, http.StatusOK, "inspect "+name)
	var c containertypes.InspectResponse
	r.decode(l.t, &c)
	return c
}

// status is the container's State.Status, "" if it does not exist.
func (l *lifecycle) status(name string) string {
	l.t.Helper()
	r := l.d.do(http.MethodGet, "/containers/"+name+"/json", nil)
	if r.status == http.StatusNotFound {
		return ""
	}
	expectStatus(l.t, r, http.StatusOK, "inspect "+name)
	var c containertypes.InspectResponse
	r.decode(l.t, &c)
	return string(c.State.Status)
}

// waitStatus polls until the container has status (e.g. "exited").
func (l *lifecycle) waitStatus(name, status string, timeout time.Duration) containertypes.InspectResponse {
	l.t.Helper()
	waitFor(l.t, timeout, name+" to be "+status, func() bool { return l.status(name) == status })
	return l.inspect(name)
}

// runDetached is `docker run -d args...`; it returns the container ID.
func (l *lifecycle) runDetached(args ...string) string {
	l.t.Helper()
	return strings.TrimSpace(l.docker.ok(append([]string{"run", "-d"}, args...)...))
}

// waitReady waits until the container printed "ready" n times (once per
// run of a command that sets its traps first).
func (l *lifecycle) waitReady(name string, n int) {
	l.t.Helper()
	waitFor(l.t, 15*time.Second, name+" to be ready", func() bool {
		r := l.docker.run("logs", name)
		return strings.Count(r.stdout, "ready\n") >= n
	})
}

// timed runs the docker command and returns the result and how long it took.
func (l *lifecycle) timed(args ...string) (cliResult, time.Duration) {
	l.t.Helper()
	start := time.Now()
	r := l.docker.run(args...)
	return r, time.Since(start)
}

// expectExited checks a stopped container's state.
func (l *lifecycle) expectExited(name string, code int) containertypes.InspectResponse {
	l.t.Helper()
	c := l.inspect(name)
	if c.State.Status != "exited" || c.State.Running || c.State.ExitCode != code {
		l.t.Fatalf("%s: state %s running=%v exit %d, want exited with %d", name, c.State.Status, c.State.Running, c.State.ExitCode, code)
	}
	if c.State.Pid != 0 {
		l.t.Errorf("%s: exited with Pid %d", name, c.State.Pid)
	}
	return c
}

// expectRunning checks that the container runs, with a live init.
func (l *lifecycle) expectRunning(name string) containertypes.InspectResponse {
	l.t.Helper()
	c := l.inspect(name)
	if c.State.Status != "running" || !c.State.Running || c.State.Pid <= 0 || !lcPidAlive(c.State.Pid) {
		l.t.Fatalf("%s: state %s running=%v pid %d, want running with a live pid", name, c.State.Status, c.State.Running, c.State.Pid)
	}
	return c
}

// lcWaitResult is the outcome of POST /containers/{id}/wait.
type lcWaitResult struct {
	code int64
	err  error
}

// startWait sends POST /containers/{id}/wait?condition=cond and returns
// once berthd has answered the headers (the wait is registered); the
// channel yields the result.
func (l *lifecycle) startWait(ctx context.Context, id string, cond containertypes.WaitCondition) (<-chan lcWaitResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://berth/containers/"+id+"/wait?condition="+string(cond), nil)
	if err != nil {
		return nil, err
	}
	l.d.mu.Lock()
	c := l.d.client
	l.d.mu.Unlock()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("wait %s: status %d", id, resp.StatusCode)
	}
	ch := make(chan lcWaitResult, 1)
	go func() {
		defer resp.Body.Close()
		var w containertypes.WaitResponse
		if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
			ch <- lcWaitResult{err: fmt.Errorf("wait %s: %w", id, err)}
			return
		}
		if w.Error != nil && w.Error.Message != "" {
			ch <- lcWaitResult{code: w.StatusCode, err: errors.New(w.Error.Message)}
			return
		}
		ch <- lcWaitResult{code: w.StatusCode}
	}()
	return ch, nil
}

// expectWait reads a wait's result within timeout.
func lcExpectWait(t *testing.T, ch <-chan lcWaitResult, code int64, timeout time.Duration, what string) {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil || r.code != code {
			t.Fatalf("%s: wait gave %d, %v; want %d", what, r.code, r.err, code)
		}
	case <-time.After(timeout):
		t.Fatalf("%s: wait did not return within %s", what, timeout)
	}
}

// createContainer is POST /containers/create; it returns the ID.
func (l *lifecycle) createContainer(name string, body map[string]any) string {
	l.t.Helper()
	path := "/containers/create"
	if name != "" {
		path += "?name=" + name
	}
	r := l.d.do(http.MethodPost, path, body)
	expectStatus(l.t, r, http.StatusCreated, "create "+name)
	var c containertypes.CreateResponse
	r.decode(l.t, &c)
	return c.ID
}

const (
	// lcTrapTERM says "ready" once its trap is set: a SIGTERM before that
	// is lost (a PID namespace's init ignores signals it has no handler
	// for), as in Docker.
	lcTrapTERM   = "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"
	lcIgnoreTERM = "while true; do sleep 0.1; done"
)

func TestContainerLifecycleStopKillWait(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{})
	docker := l.docker

	// A container that handles SIGTERM stops at once, with its own code.
	l.runDetached("--name", "trap", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("trap", 1)
	r, took := l.timed("stop", "trap")
	if r.exitCode != 0 || strings.TrimSpace(r.stdout) != "trap" || took > 5*time.Second {
		t.Fatalf("docker stop trap (%s): %s", took, r)
	}
	l.expectExited("trap", 0)

	// One that ignores it takes the timeout, then is killed.
	l.runDetached("--name", "ignore", "busybox", "sh", "-c", lcIgnoreTERM)
	r, took = l.timed("stop", "-t", "1", "ignore")
	if r.exitCode != 0 || took < time.Second || took > 6*time.Second {
		t.Fatalf("docker stop -t 1 ignore (%s): %s", took, r)
	}
	l.expectExited("ignore", 137)

	// Stopping a stopped container is a 304: the CLI prints the name.
	if out := docker.ok("stop", "ignore"); strings.TrimSpace(out) != "ignore" {
		t.Fatalf("docker stop of a stopped container printed %q", out)
	}
	expectStatus(t, l.d.do(http.MethodPost, "/containers/ignore/stop", nil), http.StatusNotModified, "stop a stopped container")

	// --stop-signal and --stop-timeout are the container's defaults.
	l.runDetached("--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c", "trap 'exit 7' USR1; echo ready; "+lcIgnoreTERM)
	l.waitReady("usr1", 1)
	if r, took = l.timed("stop", "usr1"); r.exitCode != 0 || took > 5*time.Second {
		t.Fatalf("docker stop usr1 (%s): %s", took, r)
	}
	l.expectExited("usr1", 7)
	l.runDetached("--name", "st1", "--stop-timeout", "1", "busybox", "sh", "-c", lcIgnoreTERM)
	if r, took = l.timed("stop", "st1"); r.exitCode != 0 || took < time.Second || took > 6*time.Second {
		t.Fatalf("docker stop st1 with --stop-timeout 1 (%s): %s", took, r)
	}
	l.expectExited("st1", 137)

	// kill sends the signal given (SIGKILL by default).
	l.runDetached("--name", "kill", "busybox", "sh", "-c", "trap 'exit 9' USR2; echo ready; "+lcIgnoreTERM)
	l.waitReady("kill", 1)
	docker.ok("kill", "-s", "USR2", "kill")
	l.waitStatus("kill", "exited", 10*time.Second)
	l.expectExited("kill", 9)
	l.runDetached("--name", "kill9", "busybox", "sleep", "1000")
	docker.ok("kill", "kill9")
	l.waitStatus("kill9", "exited", 10*time.Second)
	l.expectExited("kill9", 137)
	// Killing a stopped container is Docker's 409.
	id := l.inspect("kill9").ID
	r = docker.run("kill", "kill9")
	if want := "Error response from daemon: cannot kill container: kill9: container " + id + " is not running"; r.exitCode != 1 || strings.TrimSpace(r.stderr) != want {
		t.Fatalf("docker kill of a stopped container: %s\nwant stderr %q", r, want)
	}
	expectError(t, l.d.do(http.MethodPost, "/containers/kill9/kill", nil), http.StatusConflict, "is not running", "kill a stopped container")

	// restart: a new run of the same container; the policy count stays 0.
	before := l.runDetached("--name", "rs", "--stop-timeout", "1", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("rs", 1)
	c1 := l.expectRunning(before)
	docker.ok("restart", "rs")
	l.waitReady("rs", 2)
	c2 := l.expectRunning("rs")
	if c2.State.Pid == c1.State.Pid || c2.State.StartedAt == c1.State.StartedAt || c2.RestartCount != 0 {
		t.Fatalf("restart: pid %d→%d, started %s→%s, RestartCount %d", c1.State.Pid, c2.State.Pid, c1.State.StartedAt, c2.State.StartedAt, c2.RestartCount)
	}
	// restart of a stopped container starts it.
	docker.ok("restart", "trap")
	l.waitReady("trap", 2)
	l.expectRunning("trap")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// wait not-running: returns at once for a stopped container, at the
	// exit for a running one.
	ch, err := l.startWait(ctx, "ignore", containertypes.WaitConditionNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	lcExpectWait(t, ch, 137, 5*time.Second, "wait not-running on a stopped container")
	if ch, err = l.startWait(ctx, "rs", containertypes.WaitConditionNotRunning); err != nil {
		t.Fatal(err)
	}
	docker.ok("stop", "rs")
	lcExpectWait(t, ch, 0, 5*time.Second, "wait not-running across a stop")

	// wait next-exit on a stopped container: the exit of the next run.
	ex := l.createContainer("ex", map[string]any{"Image": "busybox", "Cmd": []string{"sh", "-c", "sleep 0.2; exit 3"}})
	docker.ok("start", "ex")
	if got := strings.TrimSpace(docker.ok("wait", "ex")); got != "3" {
		t.Fatalf("docker wait ex printed %q, want 3", got)
	}
	if ch, err = l.startWait(ctx, ex, containertypes.WaitConditionNextExit); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("wait next-exit returned %+v before the next run", r)
	case <-time.After(300 * time.Millisecond):
	}
	docker.ok("start", "ex")
	lcExpectWait(t, ch, 3, 10*time.Second, "wait next-exit")

	// wait removed: once the container is gone, with its last exit code.
	if ch, err = l.startWait(ctx, ex, containertypes.WaitConditionRemoved); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("wait removed returned %+v before the removal", r)
	case <-time.After(300 * time.Millisecond):
	}
	docker.ok("rm", "ex")
	lcExpectWait(t, ch, 3, 5*time.Second, "wait removed")

	// docker run --rm waits with condition removed: the exit code, and
	// nothing left.
	if r := docker.run("run", "--rm", "--name", "rm1", "busybox", "sh", "-c", "echo bye; exit 5"); r.exitCode != 5 || r.stdout != "bye\n" {
		t.Fatalf("docker run --rm exit 5: %s", r)
	}
	if s := l.status("rm1"); s != "" {
		t.Fatalf("run --rm left the container (%s)", s)
	}

	docker.ok("rm", "-f", "trap", "ignore", "usr1", "st1", "kill", "kill9", "rs")
	l.expectNoLeaks("after removing every container")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

// restartEvents are the times of the container's start and die events.
func (l *lifecycle) restartEvents(id string, since time.Time) (starts, dies []time.Time) {
	l.t.Helper()
	for _, m := range l.d.eventsBetween(since, time.Now(), map[string][]string{"container": {id}, "event": {"start", "die"}}) {
		at := time.Unix(0, m.TimeNano)
		switch m.Action {
		case "start":
			starts = append(starts, at)
		case "die":
			dies = append(dies, at)
		}
	}
	return starts, dies
}

func TestContainerLifecycleRestartPolicies(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{})
	docker := l.docker

	// on-failure:2 restarts a failing container exactly twice.
	l.runDetached("--name", "onfail", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1")
	waitFor(t, 20*time.Second, "on-failure:2 to give up", func() bool {
		c := l.inspect("onfail")
		return c.State.Status == "exited" && c.RestartCount == 2
	})
	time.Sleep(time.Second)
	if c := l.expectExited("onfail", 1); c.RestartCount != 2 {
		t.Fatalf("on-failure:2: RestartCount %d after giving up", c.RestartCount)
	}
	// on-failure does not restart a success.
	l.runDetached("--name", "onfail0", "--restart", "on-failure", "busybox", "true")
	l.waitStatus("onfail0", "exited", 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if c := l.expectExited("onfail0", 0); c.RestartCount != 0 {
		t.Fatalf("on-failure restarted a success: RestartCount %d", c.RestartCount)
	}

	// always restarts with Docker's backoff: 100ms, doubling.
	since := time.Now()
	id := l.runDetached("--name", "always", "--restart", "always", "busybox", "sh", "-c", "exit 3")
	var starts, dies []time.Time
	waitFor(t, 20*time.Second, "five starts of the always container", func() bool {
		starts, dies = l.restartEvents(id, since)
		return len(starts) >= 5
	})
	for i := 0; i < 4; i++ {
		delay := starts[i+1].Sub(dies[i])
		want := 100 * time.Millisecond << i
		if delay < want-20*time.Millisecond || delay > want+2*time.Second {
			t.Errorf("restart %d came %s after the exit, want about %s", i+1, delay, want)
		}
	}
	// docker stop stops it for good, whether running or waiting.
	docker.ok("stop", "-t", "1", "always")
	c := l.expectExited("always", l.inspect("always").State.ExitCode)
	count := c.RestartCount
	time.Sleep(1500 * time.Millisecond)
	if c := l.inspect("always"); c.State.Status != "exited" || c.RestartCount != count {
		t.Fatalf("always after docker stop: %s, RestartCount %d→%d", c.State.Status, count, c.RestartCount)
	}
	// A manual start resets the count; a kill while it waits to restart
	// stops it too.
	docker.ok("start", "always")
	waitFor(t, 10*time.Second, "always to be restarting", func() bool { return l.status("always") == "restarting" || l.inspect("always").RestartCount > 0 })
	if c := l.inspect("always"); c.RestartCount > 3 {
		t.Fatalf("manual start did not reset RestartCount: %d", c.RestartCount)
	}
	docker.ok("rm", "-f", "always")
	if s := l.status("always"); s != "" {
		t.Fatalf("rm -f of a restarting container left it %s", s)
	}

	// Policies across berthd restarts.
	l.runDetached("--name", "al", "--restart", "always", "--stop-timeout", "1", "busybox", "sh", "-c", lcIgnoreTERM)
	l.runDetached("--name", "us", "--restart", "unless-stopped", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("us", 1)
	l.runDetached("--name", "alstop", "--restart", "always", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("alstop", 1)
	l.runDetached("--name", "usstop", "--restart", "unless-stopped", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("usstop", 1)
	l.runDetached("--name", "none", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("none", 1)
	docker.ok("stop", "alstop", "usstop")
	time.Sleep(300 * time.Millisecond)
	if l.status("alstop") != "exited" || l.status("usstop") != "exited" {
		t.Fatalf("stopped always/unless-stopped containers restarted: %s, %s", l.status("alstop"), l.status("usstop"))
	}
	check := func(when string) {
		t.Helper()
		for _, name := range []string{"al", "us", "alstop"} {
			l.waitStatus(name, "running", 15*time.Second)
			l.expectRunning(name)
		}
		time.Sleep(300 * time.Millisecond)
		if s := l.status("usstop"); s != "exited" {
			t.Fatalf("%s: unless-stopped container stopped by hand is %s", when, s)
		}
		if s := l.status("none"); s != "exited" {
			t.Fatalf("%s: container without policy is %s", when, s)
		}
	}
	// A clean stop: berthd stops them, the next start brings back always
	// (even stopped by hand, as Docker) and unless-stopped.
	pids := map[string]int{}
	for _, name := range []string{"al", "us"} {
		pids[name] = l.inspect(name).State.Pid
	}
	l.d.stop()
	l.expectNoLeaks("after a clean stop")
	l.d.start()
	check("after a clean restart")
	l.expectExited("none", 0)
	// A crash: the containers it left are killed, then restarted.
	for _, name := range []string{"al", "us"} {
		pids[name] = l.inspect(name).State.Pid
	}
	l.d.kill()
	l.d.start()
	check("after berthd was killed")
	for name, pid := range pids {
		if lcPidAlive(pid) {
			t.Errorf("%s: the run berthd left (pid %d) is still alive", name, pid)
		}
	}

	// docker restart of an always container: one new run, not two.
	pid := l.inspect("al").State.Pid
	docker.ok("restart", "-t", "1", "al")
	if c := l.expectRunning("al"); c.State.Pid == pid || c.RestartCount != 0 {
		t.Fatalf("restart of an always container: pid %d→%d, RestartCount %d", pid, c.State.Pid, c.RestartCount)
	}
	time.Sleep(500 * time.Millisecond)
	if c := l.expectRunning("al"); c.RestartCount != 0 {
		t.Fatalf("the restart policy restarted a container restarted by hand: RestartCount %d", c.RestartCount)
	}

	docker.ok("rm", "-f", "onfail", "onfail0", "al", "us", "alstop", "usstop", "none")
	l.expectNoLeaks("after removing every container")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

func TestContainerLifecycleLiveRestore(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{args: []string{"--live-restore"}})
	docker := l.docker

	l.runDetached("--name", "counter", "busybox", "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done")
	// One that exits while berthd is away: its code must not be lost.
	l.runDetached("--name", "quits", "busybox", "sh", "-c", "sleep 1; exit 4")
	// One whose shim dies while berthd is away.
	shimless := l.runDetached("--name", "shimless", "busybox", "sleep", "1000")
	shimlessPid := l.expectRunning("shimless").State.Pid
	pid := l.expectRunning("counter").State.Pid
	logPath := l.inspect("counter").LogPath
	grows := func(when string) {
		t.Helper()
		fi1, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		fi2, err := os.Stat(logPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi2.Size() <= fi1.Size() {
			t.Fatalf("%s: the log does not grow (%d bytes)", when, fi2.Size())
		}
	}

	// kill -9 of berthd: the containers keep running.
	l.d.kill()
	if !lcPidAlive(pid) {
		t.Fatal("the container died with berthd")
	}
	grows("berthd killed")
	shimPid, err := shim.ReadPid(filepath.Join(l.d.execRoot, "containers", shimless))
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(shimPid, syscall.SIGKILL)
	time.Sleep(time.Second) // quits exits meanwhile
	l.d.start()
	// The container the dead shim held is killed and marked exited.
	l.expectExited("shimless", 137)
	if lcPidAlive(shimlessPid) {
		t.Error("the container of the dead shim survived the restart")
	}
	if c := l.expectRunning("counter"); c.State.Pid != pid {
		t.Fatalf("after live restore: pid %d, want %d", c.State.Pid, pid)
	}
	if out := docker.ok("ps", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(strings.TrimSpace(out), "counter Up ") {
		t.Fatalf("docker ps after live restore:\n%s", out)
	}
	l.waitStatus("quits", "exited", 5*time.Second)
	l.expectExited("quits", 4)
	if out := docker.ok("logs", "--tail", "2", "counter"); !strings.HasPrefix(out, "line ") {
		t.Fatalf("docker logs after live restore: %q", out)
	}
	if out := docker.ok("exec", "counter", "echo", "exec-ok"); out != "exec-ok\n" {
		t.Fatalf("docker exec after live restore: %q", out)
	}
	grows("after live restore")

	// A clean stop of berthd with live-restore leaves it running too.
	l.d.stop()
	if !lcPidAlive(pid) {
		t.Fatal("the container died with a clean stop of berthd under live-restore")
	}
	grows("berthd stopped")
	l.d.start()
	l.expectRunning("counter")
	// Its root filesystem is intact: a clean stop must not unmount the
	// layers of containers it leaves running (the next mount would reuse
	// their overlay's work directory).
	if out := docker.ok("exec", "counter", "sh", "-c", "echo written > /tmp/after-restart && cat /tmp/after-restart"); out != "written\n" {
		t.Fatalf("writing in the container after a clean live-restore restart: %q", out)
	}

	// And everything works on it: stop, wait, rm.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch, err := l.startWait(ctx, "counter", containertypes.WaitConditionNotRunning)
	if err != nil {
		t.Fatal(err)
	}
	if r, took := l.timed("stop", "-t", "1", "counter"); r.exitCode != 0 || took > 6*time.Second {
		t.Fatalf("docker stop after live restore (%s): %s", took, r)
	}
	lcExpectWait(t, ch, 137, 5*time.Second, "wait after live restore")
	if got := strings.TrimSpace(docker.ok("wait", "counter")); got != "137" {
		t.Fatalf("docker wait printed %q", got)
	}
	if lcPidAlive(pid) {
		t.Fatal("the container survived its stop")
	}
	docker.ok("rm", "counter", "quits", "shimless")
	l.expectNoLeaks("after removing the restored containers")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

func TestContainerLifecycleShutdown(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{})
	docker := l.docker

	// Without live-restore a clean stop stops the containers: the stop
	// signal, then SIGKILL after their stop timeout.
	l.runDetached("--name", "trap", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("trap", 1)
	l.runDetached("--name", "ignore", "--stop-timeout", "1", "busybox", "sh", "-c", lcIgnoreTERM)
	if r := docker.run("run", "--name", "done", "busybox", "sh", "-c", "exit 3"); r.exitCode != 3 {
		t.Fatalf("docker run exit 3: %s", r)
	}
	l.runDetached("--name", "retried", "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 2")
	waitFor(t, 10*time.Second, "on-failure:1 to give up", func() bool {
		c := l.inspect("retried")
		return c.State.Status == "exited" && c.RestartCount == 1
	})
	docker.ok("rename", "done", "finished")
	// An auto-remove container goes with the stop.
	l.runDetached("--rm", "--name", "autorm", "busybox", "sh", "-c", lcTrapTERM)
	l.waitReady("autorm", 1)
	pids := []int{l.expectRunning("trap").State.Pid, l.expectRunning("ignore").State.Pid}
	before := map[string]containertypes.InspectResponse{}
	for _, name := range []string{"trap", "ignore", "finished", "retried"} {
		before[name] = l.inspect(name)
	}

	start := time.Now()
	l.d.stop()
	if took := time.Since(start); took < time.Second || took > 8*time.Second {
		t.Errorf("the clean stop took %s, want the 1s stop timeout", took)
	}
	for _, pid := range pids {
		if lcPidAlive(pid) {
			t.Errorf("container pid %d survived the clean stop", pid)
		}
	}
	l.expectNoLeaks("after a clean stop")

	// The next start shows them exited with the right codes, and the
	// rest of their state as it was.
	l.d.start()
	after := map[string]containertypes.InspectResponse{}
	for name, code := range map[string]int{"trap": 0, "ignore": 137, "finished": 3, "retried": 2} {
		after[name] = l.expectExited(name, code)
		b, a := before[name], after[name]
		if a.ID != b.ID || a.Name != "/"+name || a.State.StartedAt != b.State.StartedAt || a.RestartCount != b.RestartCount {
			t.Errorf("%s after restart: id %s name %s started %s restarts %d; before: id %s started %s restarts %d",
				name, a.ID, a.Name, a.State.StartedAt, a.RestartCount, b.ID, b.State.StartedAt, b.RestartCount)
		}
		if b.State.FinishedAt != "" && !b.State.Running && a.State.FinishedAt != b.State.FinishedAt {
			t.Errorf("%s: FinishedAt changed across the restart: %s → %s", name, b.State.FinishedAt, a.State.FinishedAt)
		}
		if fin, _ := time.Parse(time.RFC3339Nano, a.State.FinishedAt); fin.Before(start.Add(-time.Second)) && b.State.Running {
			t.Errorf("%s: FinishedAt %s is before the stop", name, a.State.FinishedAt)
		}
	}
	if s := l.status("autorm"); s != "" {
		t.Errorf("the --rm container is %s after the clean restart, want removed", s)
	}
	if c := after["retried"]; c.RestartCount != 1 {
		t.Errorf("RestartCount after restart: %d, want 1", c.RestartCount)
	}
	out := docker.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}")
	for _, want := range []string{"trap Exited (0) ", "ignore Exited (137) ", "finished Exited (3) ", "retried Exited (2) "} {
		if !strings.Contains(out, want) {
			t.Errorf("docker ps -a after restart lacks %q:\n%s", want, out)
		}
	}

	// After kill -9 of berthd the next start kills what still runs and
	// marks it exited (137).
	l.runDetached("--name", "orphan", "busybox", "sleep", "1000")
	l.runDetached("--rm", "--name", "autorm2", "busybox", "sleep", "1000")
	pid := l.expectRunning("orphan").State.Pid
	l.d.kill()
	if !lcPidAlive(pid) {
		t.Fatal("the container died with berthd")
	}
	l.d.start()
	if s := l.status("autorm2"); s != "" {
		t.Errorf("the --rm container is %s after a crash and restart, want removed", s)
	}
	c := l.expectExited("orphan", 137)
	if c.State.FinishedAt == "" || lcPidAlive(pid) {
		t.Fatalf("orphan: FinishedAt %q, pid alive %v", c.State.FinishedAt, lcPidAlive(pid))
	}
	l.expectNoLeaks("after the restart that stopped the orphan")
	docker.ok("start", "orphan")
	l.expectRunning("orphan")

	docker.ok("rm", "-f", "trap", "ignore", "finished", "retried", "orphan")
	l.expectNoLeaks("after removing every container")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

func TestContainerLifecycleCrash(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{})
	docker := l.docker

	// A shim killed with SIGKILL: the monitor marks the container exited
	// (137) and cleans up, killing the container it held.
	id := l.runDetached("--name", "victim", "busybox", "sleep", "1000")
	pid := l.expectRunning("victim").State.Pid
	stateDir := filepath.Join(l.d.execRoot, "containers", id)
	shimPid, err := shim.ReadPid(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(shimPid, syscall.SIGKILL)
	l.waitStatus("victim", "exited", 10*time.Second)
	l.expectExited("victim", 137)
	waitFor(t, 5*time.Second, "the container's process to be gone", func() bool { return !lcPidAlive(pid) })
	l.expectNoLeaks("after the shim was killed")
	docker.ok("start", "victim")
	l.expectRunning("victim")

	// berthd dying between the shim's spawn and the start: the next start
	// ends the shim and its created container. The state a crashed start
	// leaves is made here with the bundle of a running container.
	created := l.createContainer("created", map[string]any{"Image": "busybox", "Cmd": []string{"true"}})
	bundle, err := os.ReadFile(filepath.Join(l.d.execRoot, "containers", l.inspect("victim").ID, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(bundle, &spec); err != nil {
		t.Fatal(err)
	}
	linux := spec["linux"].(map[string]any)
	linux["cgroupsPath"] = l.cgroupParent + "/" + created
	if bundle, err = json.Marshal(spec); err != nil {
		t.Fatal(err)
	}
	crashDir := filepath.Join(l.d.execRoot, "containers", created)
	if err := os.MkdirAll(crashDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashDir, "config.json"), bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := shim.Spawn(ctx, filepath.Join(filepath.Dir(berthdBin), "berth-shim"), shim.Options{
		ID: created, Bundle: crashDir, StateDir: crashDir, RuntimeRoot: filepath.Join(l.d.execRoot, "runtime"), LogMaxFiles: 1,
	})
	if err != nil {
		t.Fatalf("spawning the shim of a start cut short: %v", err)
	}
	if st, err := cl.State(ctx); err != nil || st.Status != shim.StatusCreated {
		t.Fatalf("crashed start's shim: %+v, %v", st, err)
	}
	victimPid := l.expectRunning("victim").State.Pid
	l.d.kill()
	l.d.start()
	if s := l.status("created"); s != "created" {
		t.Errorf("the container whose start was cut short is %s, want created", s)
	}
	l.expectExited("victim", 137)
	if lcPidAlive(victimPid) {
		t.Error("the running container survived the restart")
	}
	l.expectNoLeaks("after the restart that followed a crash in a start")
	// It starts normally afterwards.
	docker.ok("start", "-a", "created")
	l.expectExited("created", 0)

	docker.ok("rm", "-f", "victim", "created")
	l.expectNoLeaks("after removing every container")

	// berthd dying between a create's layer and its record, or between a
	// removal's record and its layer (made here by deleting the record of
	// a container while berthd is down): the next start removes the
	// read-write layer that no container owns.
	orphan := l.createContainer("layeronly", map[string]any{"Image": "busybox", "Cmd": []string{"true"}})
	l.d.stop()
	store, err := container.Open(filepath.Join(l.d.dataRoot, "containers"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.Get(orphan)
	if err == nil {
		err = store.Delete(c)
	}
	store.Close()
	if err != nil {
		t.Fatalf("deleting the record of %s: %v", orphan, err)
	}
	l.d.start()
	if log := l.d.logContents(); !strings.Contains(log, `msg="restore: removed a read-write layer no container owns" layer=`+orphan) {
		t.Errorf("the start did not remove the orphaned read-write layer %s:\n%s", orphan, l.d.logTail())
	}
	if s := l.status("layeronly"); s != "" {
		t.Errorf("layeronly is %s, want gone", s)
	}
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

func TestContainerLifecycleRemove(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{maxVolumes: 2})
	docker := l.docker

	// rm of a running container: Docker's 409 without -f.
	l.runDetached("--name", "busy", "busybox", "sleep", "1000")
	pid := l.expectRunning("busy").State.Pid
	r := docker.run("rm", "busy")
	want := `Error response from daemon: cannot remove container "/busy": container is running: stop the container before removing or force remove`
	if r.exitCode != 1 || strings.TrimSpace(r.stderr) != want {
		t.Fatalf("docker rm of a running container: %s\nwant stderr %q", r, want)
	}
	expectError(t, l.d.do(http.MethodDelete, "/containers/busy", nil), http.StatusConflict, "container is running", "DELETE a running container")
	l.expectRunning("busy")
	// rm -f kills and removes it.
	if out := docker.ok("rm", "-f", "busy"); strings.TrimSpace(out) != "busy" {
		t.Fatalf("docker rm -f printed %q", out)
	}
	if s := l.status("busy"); s != "" || lcPidAlive(pid) {
		t.Fatalf("after rm -f: status %q, pid alive %v", s, lcPidAlive(pid))
	}
	l.expectNoLeaks("after rm -f")
	// rm -f of a running --rm container: the kill's exit does not
	// auto-remove it behind rm's back (the two raced: one failed with
	// "read-write layer does not exist").
	for i := range 5 {
		name := fmt.Sprintf("rmrace%d", i)
		l.runDetached("--rm", "--name", name, "busybox", "sleep", "1000")
		if out := docker.ok("rm", "-f", name); strings.TrimSpace(out) != name {
			t.Fatalf("docker rm -f of a --rm container printed %q", out)
		}
		if s := l.status(name); s != "" {
			t.Fatalf("after rm -f: status %q", s)
		}
	}
	l.expectNoLeaks("after rm -f of --rm containers")

	// rm while an export holds the container's filesystem: 409, and the
	// container stays whole; rm works once the export ends.
	l.createContainer("exported", map[string]any{"Image": "busybox", "Cmd": []string{"true"}})
	req, _ := http.NewRequest(http.MethodGet, "http://berth/containers/exported/export", nil)
	export, err := l.d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, l.d.do(http.MethodDelete, "/containers/exported", nil), http.StatusConflict, "its filesystem is in use", "DELETE during an export")
	if s := l.status("exported"); s != "created" {
		t.Fatalf("after the refused rm: status %q, want created", s)
	}
	export.Body.Close()
	waitFor(t, 10*time.Second, "rm after the export", func() bool {
		return l.d.do(http.MethodDelete, "/containers/exported", nil).status == http.StatusNoContent
	})
	l.expectNoLeaks("after rm of the exported container")

	// rm -v removes anonymous volumes and frees their quota slots; rm
	// without -v keeps them.
	l.runDetached("--name", "anon", "-v", "/data", "busybox", "sleep", "1000")
	l.runDetached("--name", "keep", "-v", "/data", "busybox", "true")
	l.waitStatus("keep", "exited", 10*time.Second)
	l.d.expectQuota(2, 2)
	docker.ok("rm", "-fv", "anon")
	l.d.expectQuota(2, 1)
	docker.ok("rm", "keep")
	l.d.expectQuota(2, 1)
	docker.ok("volume", "prune", "-f")
	l.d.expectQuota(2, 0)

	// run --rm -v leaves no volume.
	docker.ok("run", "--rm", "-v", "/data", "busybox", "sh", "-c", "echo x > /data/f")
	l.d.expectQuota(2, 0)

	// A full quota refuses a container with a new volume: 403, and no
	// container is left behind.
	l.d.createVolume("q1", nil)
	l.d.createVolume("q2", nil)
	for _, v := range []string{"newvol:/x", "/anon"} {
		r = docker.run("run", "-v", v, "busybox", "true")
		if r.exitCode != 125 || !strings.Contains(r.stderr, "Error response from daemon: "+quotaMessage(2, 2)) {
			t.Fatalf("docker run -v %s with the quota full: %s", v, r)
		}
	}
	body := map[string]any{"Image": "busybox", "Cmd": []string{"true"}, "HostConfig": map[string]any{"Binds": []string{"newvol:/x"}}}
	expectError(t, l.d.do(http.MethodPost, "/containers/create", body), http.StatusForbidden, quotaMessage(2, 2), "create with a new volume, quota full")
	if out := docker.ok("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Fatalf("refused runs left containers:\n%s", out)
	}
	l.d.expectQuota(2, 2)
	// An existing volume needs no slot.
	docker.ok("run", "--rm", "-v", "q1:/x", "busybox", "true")

	l.expectNoLeaks("after the removals")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

func TestContainerLifecycleRunRmStorm(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{})
	const total, parallel = 200, 4

	// docker run --rm busybox true, as the CLI does it: create with
	// AutoRemove, wait for removed, start, read the exit.
	run := func(ctx context.Context) error {
		r, err := l.d.request(ctx, http.MethodPost, "/containers/create", map[string]any{
			"Image": "busybox", "Cmd": []string{"true"}, "HostConfig": map[string]any{"AutoRemove": true},
		})
		if err != nil {
			return err
		}
		if r.status != http.StatusCreated {
			return fmt.Errorf("create: %s", r)
		}
		var c containertypes.CreateResponse
		if err := json.Unmarshal(r.body, &c); err != nil {
			return err
		}
		ch, err := l.startWait(ctx, c.ID, containertypes.WaitConditionRemoved)
		if err != nil {
			return err
		}
		if r, err = l.d.request(ctx, http.MethodPost, "/containers/"+c.ID+"/start", nil); err != nil {
			return err
		}
		if r.status != http.StatusNoContent {
			return fmt.Errorf("start: %s", r)
		}
		select {
		case w := <-ch:
			if w.err != nil || w.code != 0 {
				return fmt.Errorf("wait: %d, %v", w.code, w.err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < parallel; i++ {
		wg.Go(func() {
			for next.Add(1) <= total {
				if err := run(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					if len(errs) > 5 {
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d of %d runs failed: %v", len(errs), total, err)
	}
	t.Logf("%d run --rm busybox true, %d at a time: %s, %.1f containers/s", total, parallel, took.Round(time.Millisecond), float64(total)/took.Seconds())

	if out := l.docker.ok("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Fatalf("the storm left containers:\n%s", out)
	}
	l.expectNoLeaks("after the storm")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}

// A berthd without berth-shim serves everything but running containers: a
// start is a 503 that says what is missing, and `docker run --rm` fails at
// once and leaves no container behind, as Docker removes an auto-remove
// container whose start failed (the CLI waits for that removal).
func TestContainerStartWithoutShim(t *testing.T) {
	t.Parallel()
	bin := copyExecutable(t, berthdBin, "berthd")
	d := startDaemon(t, daemonOpts{bin: bin, path: "/usr/bin:/bin"})
	docker := newDockerCLI(t, d)
	loadBusybox(t, docker)

	const missing = "berth-shim not found beside berthd or in PATH"
	docker.fail(125, missing, "run", "--rm", "busybox", "true")
	if out := docker.out("ps", "-aq"); out != "" {
		t.Errorf("run --rm left containers: %q", out)
	}

	docker.ok("create", "--name", "kept", "busybox", "true")
	docker.fail(1, missing, "start", "kept")
	r := d.do("POST", "/v1.44/containers/kept/start", nil)
	expectError(t, r, 503, missing, "start without a shim")
	if got := docker.inspect("{{.State.Status}} {{.State.Error}}", "kept"); !strings.Contains(got, "created "+missing) {
		t.Errorf("state after the failed start: %q", got)
	}
}
