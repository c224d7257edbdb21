package integration

// --init: tini as the container's PID 1 (bind-mounted at /sbin/docker-init),
// through the docker CLI and the berth CLI, daemon.json "init" and
// "init-path", and the error when there is no init to run.

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/system"
)

// needInit fails the test unless the host has an init berthd finds by
// default (Debian's tini package provides /usr/bin/tini-static).
func needInit(t *testing.T) {
	t.Helper()
	for _, name := range []string{"docker-init", "tini-static"} {
		if _, err := exec.LookPath(name); err == nil {
			return
		}
	}
	t.Fatal("neither docker-init nor tini-static is in PATH: install Debian's tini package")
}

// procStates maps each process of a container to its state letter (R, S,
// Z...) and command name, read from /proc/<pid>/stat by an exec.
func procStates(t *testing.T, docker *dockerCLI, name string) map[string]string {
	t.Helper()
	out := docker.ok("exec", name, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null")
	states := map[string]string{}
	for _, l := range lines(out) {
		pid, rest, _ := strings.Cut(l, " ")
		i := strings.LastIndexByte(rest, ')')
		if i < 0 || i+2 >= len(rest) {
			continue
		}
		states[pid] = rest[i+2:i+3] + " " + strings.TrimPrefix(rest[:i], "(")
	}
	return states
}

func hasZombie(states map[string]string) bool {
	for _, s := range states {
		if strings.HasPrefix(s, "Z ") {
			return true
		}
	}
	return false
}

func TestContainerInit(t *testing.T) {
	t.Parallel()
	needInit(t)
	d, docker := newContainerDocker(t, daemonOpts{}, false)

	// PID 1 is the init, the command its child.
	out := docker.ok("run", "--rm", "--init", "busybox", "ps", "-o", "pid,ppid,args")
	var sawInit, sawPs bool
	for _, l := range lines(out)[1:] {
		f := strings.Fields(l)
		switch {
		case len(f) >= 4 && f[0] == "1" && f[2] == "/sbin/docker-init" && f[3] == "--":
			sawInit = true
		case len(f) >= 3 && f[2] == "ps":
			sawPs = f[0] != "1" && f[1] == "1"
		}
	}
	if !sawInit || !sawPs {
		t.Errorf("ps under --init: want /sbin/docker-init as PID 1 and ps its child:\n%s", out)
	}
	// Without --init the command is PID 1.
	if out := docker.ok("run", "--rm", "busybox", "cat", "/proc/1/cmdline"); out != "cat\x00/proc/1/cmdline\x00" {
		t.Errorf("PID 1 without --init: %q", out)
	}
	// The init is read-only in the container.
	docker.fail(1, "", "run", "--rm", "--init", "busybox", "sh", "-c", "echo x > /sbin/docker-init")

	// Inspect shows HostConfig.Init: true with --init, null without.
	docker.ok("create", "--name", "withinit", "--init", "busybox", "true")
	docker.ok("create", "--name", "noinit", "busybox", "true")
	if got := docker.inspect("{{json .HostConfig.Init}}", "withinit"); got != "true" {
		t.Errorf("HostConfig.Init with --init: %s", got)
	}
	if got := docker.inspect("{{json .HostConfig.Init}}", "noinit"); got != "null" {
		t.Errorf("HostConfig.Init without --init: %s", got)
	}

	// Zombies: an orphan is re-parented to PID 1 and, when it exits, reaped
	// by the init; with the command as PID 1 (sleep, which never waits) it
	// stays a zombie.
	const orphan = "(sleep 0.2 &); exec sleep 1000"
	docker.ok("run", "-d", "--name", "reaper", "--init", "busybox", "sh", "-c", orphan)
	docker.ok("run", "-d", "--name", "noreaper", "busybox", "sh", "-c", orphan)
	waitFor(t, 15*time.Second, "the orphan to exit in the container without an init", func() bool {
		return hasZombie(procStates(t, docker, "noreaper"))
	})
	waitFor(t, 15*time.Second, "the orphan to go in the container with an init", func() bool {
		// Only the sleep 1000 is left once the orphan is reaped.
		n := 0
		for _, s := range procStates(t, docker, "reaper") {
			if strings.HasSuffix(s, " sleep") {
				n++
			}
		}
		return n == 1
	})
	if st := procStates(t, docker, "reaper"); hasZombie(st) {
		t.Errorf("zombie under --init: %v", st)
	}

	// docker top and exec keep working.
	docker.ok("run", "-d", "--name", "sig", "--init", "busybox", "sleep", "100")
	top := docker.ok("top", "sig")
	if !strings.Contains(top, "/sbin/docker-init -- sleep 100") || !strings.Contains(top, "sleep 100\n") {
		t.Errorf("docker top of an --init container:\n%s", top)
	}
	if out := docker.ok("exec", "sig", "cat", "/proc/self/cmdline"); out != "cat\x00/proc/self/cmdline\x00" {
		t.Errorf("docker exec in an --init container: %q", out)
	}
	// docker stop: the init forwards SIGTERM, sleep dies of it (143, as in
	// Docker), where a bare sleep as PID 1 ignores it and is killed (137).
	docker.ok("stop", "sig")
	if code := docker.inspect("{{.State.ExitCode}}", "sig"); code != "143" {
		t.Errorf("exit code after docker stop of an --init container: %s, want 143", code)
	}
	docker.ok("run", "-d", "--name", "nosig", "busybox", "sleep", "100")
	docker.ok("stop", "-t", "1", "nosig")
	if code := docker.inspect("{{.State.ExitCode}}", "nosig"); code != "137" {
		t.Errorf("exit code after docker stop without an init: %s, want 137", code)
	}

	// docker info names the init and its version.
	var info system.Info
	d.do("GET", "/info", nil).decode(t, &info)
	if info.InitBinary != "docker-init" || info.InitCommit.ID == "" {
		t.Errorf("info: InitBinary %q, InitCommit %+v", info.InitBinary, info.InitCommit)
	}
	if out := docker.ok("info", "--format", "{{.InitBinary}} {{.InitCommit.ID}}"); strings.TrimSpace(out) != "docker-init "+info.InitCommit.ID {
		t.Errorf("docker info: %q", out)
	}
}

func TestContainerInitBerthCLI(t *testing.T) {
	t.Parallel()
	needInit(t)
	_, berth := newBerthContainerCLI(t)
	if out := berth.ok("run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"); out != "/sbin/docker-init\x00--\x00cat\x00/proc/1/cmdline\x00" {
		t.Errorf("berth run --init: PID 1 is %q", out)
	}
	if out := berth.ok("run", "--rm", "busybox", "cat", "/proc/1/cmdline"); out != "cat\x00/proc/1/cmdline\x00" {
		t.Errorf("berth run: PID 1 is %q", out)
	}
}

func TestContainerInitDaemonDefault(t *testing.T) {
	t.Parallel()
	needInit(t)
	tini, err := exec.LookPath("tini-static")
	if err != nil {
		tini, _ = exec.LookPath("docker-init")
	}
	// "init": true makes every container run the init, unless it says
	// --init=false; init-path names the binary.
	d, docker := newContainerDocker(t, daemonOpts{config: map[string]any{"init": true, "init-path": tini}}, false)
	if out := docker.ok("run", "--rm", "busybox", "cat", "/proc/1/cmdline"); out != "/sbin/docker-init\x00--\x00cat\x00/proc/1/cmdline\x00" {
		t.Errorf(`"init": true: PID 1 is %q`, out)
	}
	if out := docker.ok("run", "--rm", "--init=false", "busybox", "cat", "/proc/1/cmdline"); out != "cat\x00/proc/1/cmdline\x00" {
		t.Errorf(`"init": true with --init=false: PID 1 is %q`, out)
	}
	// In the host's PID namespace there is no PID 1 to be: no init, as in
	// Docker.
	docker.ok("run", "--rm", "--pid", "host", "busybox", "sh", "-c", "[ ! -e /sbin/docker-init ]")
	var info system.Info
	d.do("GET", "/info", nil).decode(t, &info)
	if info.InitBinary != tini {
		t.Errorf("info: InitBinary %q, want %q", info.InitBinary, tini)
	}
}

func TestContainerInitMissing(t *testing.T) {
	t.Parallel()
	needInit(t)
	tini, err := exec.LookPath("tini-static")
	if err != nil {
		tini, _ = exec.LookPath("docker-init")
	}
	initPath := copyExecutable(t, tini, "docker-init")
	d, docker := newContainerDocker(t, daemonOpts{config: map[string]any{"init-path": initPath}}, false)
	docker.ok("create", "--name", "early", "--init", "busybox", "true")
	if err := os.Remove(initPath); err != nil {
		t.Fatal(err)
	}
	wantMsg := func(what, msg string) {
		t.Helper()
		for _, want := range []string{"cannot run the container with an init", "init-path " + initPath, "no such file or directory", "tini package", "/usr/bin/tini-static", `"init-path"`} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the error lacks %q: %s", what, want, msg)
			}
		}
	}

	// Refused at create: nothing is left behind. (The docker CLI exits 127
	// for an error that says "no such file or directory", as with dockerd.)
	r := docker.fail(127, "Error response from daemon: ", "run", "--rm", "--init", "busybox", "true")
	wantMsg("docker run --init", r.stderr)
	resp := d.do("POST", "/containers/create", map[string]any{"Image": "busybox", "Cmd": []string{"true"}, "HostConfig": map[string]any{"Init": true}})
	expectStatus(t, resp, 503, "create with a missing init")
	wantMsg("create with a missing init", resp.message())
	if out := docker.out("ps", "-a", "--format", "{{.Names}}"); out != "early" {
		t.Errorf("containers after refused creates: %q, want only early", out)
	}
	// A container created while the init was there fails at start.
	r = docker.run("start", "early")
	if r.exitCode == 0 {
		t.Fatalf("start of an --init container without its init: %s", r)
	}
	wantMsg("docker start", r.stderr)
	// Containers without an init are unaffected.
	if out := docker.ok("run", "--rm", "busybox", "echo", "ok"); out != "ok\n" {
		t.Errorf("run without --init: %q", out)
	}
	var info system.Info
	d.do("GET", "/info", nil).decode(t, &info)
	if info.InitBinary != initPath || info.InitCommit.ID != "" {
		t.Errorf("info with a missing init: InitBinary %q, InitCommit %+v", info.InitBinary, info.InitCommit)
	}
}
