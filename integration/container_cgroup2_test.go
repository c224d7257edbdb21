package integration

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Containers on cgroup v2. These machines boot cgroup v1 with a cgroup2
// mount beside it (/sys/fs/cgroup/unified) that holds no resource
// controllers, so berthd runs there in a mount namespace of its own (see
// daemonOpts.cgroup2): containers get private cgroup namespaces, freeze
// through cgroup.freeze, and the limits the hierarchy cannot apply are
// discarded with Docker's warnings, as dockerd does on such a host. On a
// v2 host the test runs berthd as is.

// hostIsCgroup2 reports whether /sys/fs/cgroup is a cgroup2 mount.
func hostIsCgroup2() bool {
	var st syscall.Statfs_t
	return syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
}

// cgroup2Root is where berthd finds the unified hierarchy, as the test
// sees it, or "" when there is none.
func cgroup2Root() string {
	if hostIsCgroup2() {
		return "/sys/fs/cgroup"
	}
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == 0x63677270 {
		return "/sys/fs/cgroup/unified"
	}
	return ""
}

func TestContainerCgroup2(t *testing.T) {
	t.Parallel()
	root := cgroup2Root()
	if root == "" {
		t.Skip("no cgroup2 hierarchy on this host")
	}
	parent := "/berth-cg2test"
	_, docker := newContainerDocker(t, daemonOpts{cgroup2: true, args: []string{"--cgroup-parent", parent}}, false)
	b, _ := os.ReadFile(root + "/cgroup.controllers")
	controllers := strings.Fields(string(b))

	if got := docker.out("info", "--format", "{{.CgroupVersion}} {{.CgroupDriver}}"); got != "2 cgroupfs" {
		t.Fatalf("docker info: cgroup %q, want 2 cgroupfs", got)
	}
	// A private cgroup namespace by default, as Docker on v2.
	if got := docker.out("run", "--rm", "busybox", "sh", "-c", "grep '^0::' /proc/self/cgroup"); got != "0::/" {
		t.Errorf("/proc/self/cgroup in the container: %q, want 0::/", got)
	}
	if got := docker.out("run", "--rm", "busybox", "sh", "-c", "test -e /sys/fs/cgroup/cgroup.procs && echo v2"); got != "v2" {
		t.Errorf("the container's /sys/fs/cgroup is not cgroup2: %q", got)
	}

	docker.ok("run", "-d", "--name", "cg2", "busybox", "sleep", "300")
	id := docker.out("inspect", "-f", "{{.Id}}", "cg2")
	if _, err := os.Stat(root + parent + "/" + id); err != nil {
		t.Errorf("the container's cgroup: %v", err)
	}
	docker.ok("pause", "cg2")
	if st := docker.out("inspect", "-f", "{{.State.Status}}", "cg2"); st != "paused" {
		t.Errorf("after pause: %s", st)
	}
	if b, _ := os.ReadFile(root + parent + "/" + id + "/cgroup.freeze"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("cgroup.freeze of a paused container: %q", b)
	}
	docker.ok("unpause", "cg2")
	docker.ok("exec", "cg2", "true")
	if out := docker.out("top", "cg2"); !strings.Contains(out, "sleep 300") {
		t.Errorf("docker top: %q", out)
	}
	if out := docker.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "cg2"); out != "cg2 1" {
		t.Errorf("docker stats: %q", out)
	}

	// Limits: applied where the hierarchy has the controller, discarded
	// with Docker's warning where it has not.
	r := docker.run("run", "--rm", "-m", "64m", "--pids-limit", "10", "busybox", "true")
	if r.exitCode != 0 {
		t.Fatalf("run with limits: %s", r)
	}
	for ctl, warning := range map[string]string{
		"memory": "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
		"pids":   "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
	} {
		if has := slices.Contains(controllers, ctl); has == strings.Contains(r.stderr, warning) {
			t.Errorf("controller %s available: %v, but the warning %q is in stderr: %v\n%s", ctl, has, warning, !has, r.stderr)
		}
	}
	// Where the hierarchy has the controllers (a v2 host), the limits are
	// in the container's cgroup files.
	limits := map[string][]string{
		"memory": {"-m", "64m", "memory.max", "67108864"},
		"pids":   {"--pids-limit", "10", "pids.max", "10"},
		"cpu":    {"--cpus", "0.5", "cpu.max", "50000 100000"},
	}
	for ctl, l := range limits {
		if !slices.Contains(controllers, ctl) {
			continue
		}
		name := "cg2-" + ctl
		docker.ok("run", "-d", "--name", name, l[0], l[1], "busybox", "sleep", "300")
		cid := docker.out("inspect", "-f", "{{.Id}}", name)
		if b, err := os.ReadFile(root + parent + "/" + cid + "/" + l[2]); err != nil || strings.TrimSpace(string(b)) != l[3] {
			t.Errorf("%s %s: %s is %q (%v), want %q", l[0], l[1], l[2], b, err, l[3])
		}
		docker.ok("rm", "-f", name)
	}
	if !slices.Contains(controllers, "cpu") {
		docker.fail(125, "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted", "run", "--rm", "--cpus", "0.5", "busybox", "true")
	}

	docker.ok("rm", "-f", "cg2")
	waitFor(t, 5*time.Second, "the container's cgroup to go", func() bool {
		_, err := os.Stat(root + parent + "/" + id)
		return os.IsNotExist(err)
	})
	t.Cleanup(func() { os.Remove(root + parent) })
}
