package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/container/shim"
)

// The tests run real containers: they need root, cgo (gcc, libseccomp-dev)
// and Debian's busybox-static. The shim binary is built once into its own
// directory, apart from the state dirs (see runtime-notes: executable
// sealing).
var (
	shimBin    string
	rootfs     string
	skipReason string
	workDir    string
	seq        atomic.Int64
)

const cgroupParent = "berth-test"

func TestMain(m *testing.M) {
	if os.Getenv(spawnerEnv) != "" {
		spawnerMain()
		return
	}
	code := func() int {
		if skipReason = prerequisites(); skipReason != "" {
			return m.Run()
		}
		var err error
		workDir, err = os.MkdirTemp("", "berth-shim-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(workDir)
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "setup:", err)
			return 1
		}
		code := m.Run()
		// The parent cgroup is the daemon's: the test plays the daemon.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent)
		for _, d := range dirs {
			os.Remove(d)
		}
		return code
	}()
	os.Exit(code)
}

func prerequisites() string {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return "needs root on Linux"
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return "needs /bin/busybox (apt-get install busybox-static)"
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		return "needs gcc and libseccomp-dev to build berth-shim"
	}
	return ""
}

func setup() error {
	binDir := filepath.Join(workDir, "bin")
	shimBin = filepath.Join(binDir, "berth-shim")
	cmd := exec.Command("go", "build", "-tags", "seccomp", "-trimpath", "-o", shimBin, "github.com/berth-engine/berth/cmd/berth-shim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build berth-shim: %v\n%s", err, out)
	}
	rootfs = filepath.Join(workDir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, name := range strings.Fields(string(out)) {
		if name != "busybox" {
			os.Symlink("busybox", filepath.Join(rootfs, "bin", name))
		}
	}
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\ntty:x:5:\n"), 0o644)
	return nil
}

func needRoot(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// newSpec returns a minimal Docker-like OCI spec running args.
func newSpec(id string, args ...string) *specs.Spec {
	caps := append([]string(nil), dockerCaps...)
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			// Above this machine's hard limit: the shim clamps it.
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1048576, Soft: 1048576}},
		},
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Hostname: id,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: "/" + cgroupParent + "/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.MountNamespace}, {Type: specs.PIDNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.NetworkNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			MaskedPaths: []string{
				"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	sc, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		panic(err)
	}
	if os.Getenv("NOSECCOMP") == "" {
		s.Linux.Seccomp = sc
	}
	return s
}

// env is one test container's directories.
type env struct {
	id   string
	opts shim.Options
	spec *specs.Spec
}

// newEnv prepares the bundle and options of a container running args.
func newEnv(t testing.TB, args ...string) *env {
	t.Helper()
	needRoot(t)
	id := fmt.Sprintf("t%d-%d", os.Getpid(), seq.Add(1))
	base := filepath.Join(workDir, "run", id)
	e := &env{
		id:   id,
		spec: newSpec(id, args...),
		opts: shim.Options{
			ID:          id,
			Bundle:      filepath.Join(base, "bundle"),
			StateDir:    filepath.Join(workDir, "run", "containers", id),
			RuntimeRoot: filepath.Join(workDir, "run", "runtime"),
			LogPath:     filepath.Join(base, id+"-json.log"),
			LogMaxFiles: 1,
		},
	}
	if err := os.MkdirAll(e.opts.Bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	return e
}

func (e *env) writeSpec(t testing.TB) {
	t.Helper()
	b, err := json.Marshal(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.opts.Bundle, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// spawn writes the spec and spawns the shim; the test's cleanup kills and
// removes whatever is left.
func (e *env) spawn(t testing.TB) *shim.Client {
	t.Helper()
	e.writeSpec(t)
	c, err := shim.Spawn(ctx(t), shimBin, e.opts)
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(e.opts.StateDir); err == nil {
			if err := shim.Cleanup(context.Background(), shimBin, e.opts.StateDir); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// run spawns, starts, waits and deletes, checking for leaks.
func (e *env) run(t testing.TB) shim.Exit {
	t.Helper()
	c := e.spawn(t)
	if err := c.Start(ctx(t)); err != nil {
		t.Fatalf("start: %v", err)
	}
	ex, err := c.Wait(ctx(t))
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	e.delete(t, c)
	return ex
}

func (e *env) delete(t testing.TB, c *shim.Client) shim.Exit {
	t.Helper()
	ex, err := c.Delete(ctx(t))
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.checkNoLeaks(t)
	return ex
}

// checkNoLeaks checks that nothing of the container remains: shim and
// container processes, state files, libcontainer state, cgroup dirs,
// mounts.
func (e *env) checkNoLeaks(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(e.opts.StateDir); !os.IsNotExist(err) {
		t.Errorf("state dir %s remains (%v)", e.opts.StateDir, err)
	}
	if _, err := os.Stat(filepath.Join(e.opts.RuntimeRoot, e.id)); !os.IsNotExist(err) {
		t.Errorf("libcontainer state of %s remains", e.id)
	}
	if dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent + "/" + e.id); len(dirs) > 0 {
		t.Errorf("cgroup dirs remain: %v", dirs)
	}
	if ps := processesMentioning(e.opts.StateDir); len(ps) > 0 {
		t.Errorf("shim processes remain: %v", ps)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(b, []byte(e.id)) {
		t.Errorf("mounts of %s remain", e.id)
	}
}

// processesMentioning returns the live (non-zombie) processes whose command
// line contains s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		if st, err := os.ReadFile(d + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, filepath.Base(d)+":"+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return out
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(st, ')')
	return !(i > 0 && i+2 < len(st) && st[i+2] == 'Z')
}

// demux reads a stdcopy stream until EOF.
func demux(t testing.TB, r io.Reader) (string, string) {
	t.Helper()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, r); err != nil {
		t.Fatalf("stdcopy: %v", err)
	}
	return o.String(), e.String()
}

func closeWrite(t testing.TB, c net.Conn) {
	t.Helper()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

func readLog(t testing.TB, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func cgroupFile(id, controller, file string) string {
	return filepath.Join("/sys/fs/cgroup", controller, cgroupParent, id, file)
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
