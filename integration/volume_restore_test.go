package integration

// Device-backed local volumes (-o type=tmpfs -o device=tmpfs) across berthd
// restarts with live-restore: the new berthd adopts the filesystem a running
// container still uses instead of mounting another one, counts the
// containers that use it, and unmounts it when the last one stops.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountCount is how many filesystems /proc/self/mountinfo shows on path.
func mountCount(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == path {
			n++
		}
	}
	return n
}

func TestVolumeDeviceLiveRestore(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t, daemonOpts{args: []string{"--live-restore"}})
	docker := l.docker
	t.Cleanup(func() { removeAllContainers(l.d) })

	for _, v := range []string{"shared", "lonely"} {
		docker.ok("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", v)
	}
	shared := docker.out("volume", "inspect", "--format", "{{.Mountpoint}}", "shared")
	lonely := docker.out("volume", "inspect", "--format", "{{.Mountpoint}}", "lonely")
	expectMounts := func(when string, path string, want int) {
		t.Helper()
		if n := mountCount(t, path); n != want {
			t.Fatalf("%s: %d mounts on %s, want %d", when, n, path, want)
		}
	}
	expectMounts("created, unused", shared, 0)

	// keeper runs through the restarts; doomed (on the same volume) and
	// alone (on a volume of its own) die while berthd is down.
	l.runDetached("--name", "keeper", "-v", "shared:/data", "busybox", "sh", "-c", "echo before > /data/f; exec sleep 1000")
	l.runDetached("--name", "doomed", "-v", "shared:/data", "busybox", "sleep", "1000")
	l.runDetached("--name", "alone", "-v", "lonely:/data", "busybox", "sleep", "1000")
	waitFor(t, 10*time.Second, "keeper's write", func() bool {
		b, _ := os.ReadFile(filepath.Join(shared, "f"))
		return string(b) == "before\n"
	})
	expectMounts("two containers", shared, 1)
	expectMounts("one container", lonely, 1)
	doomedPid, alonePid := l.expectRunning("doomed").State.Pid, l.expectRunning("alone").State.Pid

	// A clean stop, then a crash, of berthd: the filesystems stay mounted
	// once, under the running containers.
	l.d.stop()
	expectMounts("berthd stopped", shared, 1)
	l.d.start()
	expectMounts("berthd restarted", shared, 1)
	expectMounts("berthd restarted", lonely, 1)
	l.d.kill()
	syscall.Kill(doomedPid, syscall.SIGKILL)
	syscall.Kill(alonePid, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the containers killed while berthd is down to die", func() bool {
		return !lcPidAlive(doomedPid) && !lcPidAlive(alonePid)
	})
	l.d.start()
	l.expectExited("doomed", 137)
	l.expectExited("alone", 137)
	// doomed's exit does not take the volume from keeper; alone's, the
	// last user of its volume, unmounts it.
	expectMounts("after the restore", shared, 1)
	expectMounts("after the restore", lonely, 0)

	// The restored mount is the one keeper writes to: a new container
	// shares it, and its end leaves it mounted for keeper.
	docker.ok("exec", "keeper", "sh", "-c", "echo after > /data/g")
	if out := docker.ok("run", "--rm", "-v", "shared:/data", "busybox", "cat", "/data/f", "/data/g"); out != "before\nafter\n" {
		t.Fatalf("a new container on the restored volume reads %q", out)
	}
	expectMounts("a second user came and went", shared, 1)
	docker.fail(1, "volume is in use", "volume", "rm", "shared")

	// keeper's stop is the last release: unmounted, and removable.
	docker.ok("stop", "-t", "1", "keeper")
	expectMounts("keeper stopped", shared, 0)
	docker.ok("rm", "keeper", "doomed", "alone")
	docker.ok("volume", "rm", "shared", "lonely")
	l.expectNoLeaks("after removing the volumes")
	l.d.stop()
	l.expectNoLeaks("after berthd stopped")
}
