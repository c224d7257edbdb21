package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:100::/home/bob:/bin/sh
`

const testGroup = `root:x:0:root
daemon:x:1:
users:x:100:
wheel:x:10:root,alice
alice:x:1000:
video:x:44:alice
staff:x:50:
`

// newRootfs makes a rootfs with /etc/passwd and /etc/group.
func newRootfs(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), testPasswd)
	writeFile(t, filepath.Join(root, "etc/group"), testGroup)
	return root
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// allCaps is a bounding set holding every known capability.
var allCaps = slices.Clone(knownCapabilities)

func baseOptions(t testing.TB) Options {
	return Options{
		ID:           "0123456789abcdef0123456789abcdef",
		Config:       &container.Config{Cmd: []string{"sh"}, Image: "busybox"},
		HostConfig:   &container.HostConfig{},
		Rootfs:       newRootfs(t),
		BoundingCaps: allCaps,
	}
}

// allCgroups is a host whose cgroups apply every limit.
var allCgroups = CgroupSupport{
	MemoryLimit: true, SwapLimit: true, MemoryReservation: true, MemorySwappiness: true, OomKillDisable: true,
	CPUShares: true, CPUCfs: true, Cpuset: true, PidsLimit: true, BlkioWeight: true,
}

// fakeHost replaces the host probes with fixed answers for the test.
func fakeHost(t testing.TB, edit func(h *hostInfo)) {
	t.Helper()
	saved := host
	t.Cleanup(func() { host = saved })
	host.onlineCPUs = func() (string, error) { return "0-1", nil }
	host.onlineMems = func() (string, error) { return "0", nil }
	host.numCPU = func() int { return 2 }
	host.cgroups = func() CgroupSupport { return allCgroups }
	host.rlimitHard = func(int) (uint64, error) { return 1 << 20, nil }
	host.hostDevices = func() ([]specs.LinuxDevice, error) {
		return []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0}}, nil
	}
	if edit != nil {
		edit(&host)
	}
}

func mustGenerate(t *testing.T, o Options) *specs.Spec {
	t.Helper()
	s, err := Generate(o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

// checkErr: want "" = no error; else the error must contain want and be an
// invalid-argument error.
func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return true
	}
	if err == nil {
		t.Fatalf("expected error %q, got none", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if !errdefs.IsInvalidArgument(err) || !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("error %q is not an invalid-argument error", err)
	}
	return false
}

func mountByDest(ms []specs.Mount, dest string) *specs.Mount {
	for i := range ms {
		if ms[i].Destination == dest {
			return &ms[i]
		}
	}
	return nil
}

func dests(ms []specs.Mount) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Destination)
	}
	return out
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }
