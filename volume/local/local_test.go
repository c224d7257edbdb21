package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/sys/mount"
	"github.com/moby/sys/mountinfo"
)

func TestValidate(t *testing.T) {
	d, _, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{"a", "data", "my-vol_1.2", strings.Repeat("x", MaxNameLength)} {
		if err := d.Validate(ok, nil); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../x", "/x", "a/b", "-a", "_a", "a:b", strings.Repeat("x", MaxNameLength+1)} {
		if err := d.Validate(bad, nil); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("%q: err = %v, want invalid argument", bad, err)
		}
	}
	if err := d.Validate("/x", nil); !strings.Contains(err.Error(), "use absolute path") {
		t.Errorf("path-like name: hint missing: %v", err)
	}
	cases := map[string]map[string]string{
		`invalid option: "size"`:            {"size": "1g"},
		`missing required option: "device"`: {"type": "tmpfs"},
		`missing required option: "type"`:   {"device": "/dev/sda1"},
	}
	for want, opts := range cases {
		if err := d.Validate("v", opts); err == nil || err.Error() != want {
			t.Errorf("opts %v: err = %v, want %q", opts, err, want)
		}
	}
}

func TestCreateIsIdempotentAndRemoveCleans(t *testing.T) {
	root := t.TempDir()
	d, _, _ := New(root)
	for i := 0; i < 2; i++ {
		if err := d.Create("v", nil); err != nil {
			t.Fatal(err)
		}
	}
	if names, _ := d.List(); len(names) != 1 || names[0] != "v" {
		t.Fatalf("list = %v", names)
	}
	os.WriteFile(filepath.Join(d.Path("v"), "f"), make([]byte, 8192), 0o644)
	if n, err := d.Size(t.Context(), "v"); err != nil || n != 8192 {
		t.Fatalf("size = %d, %v", n, err)
	}
	if err := d.Remove("v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "v")); !os.IsNotExist(err) {
		t.Fatal("directory left behind")
	}
}

// mountsAt counts the filesystems mounted on p.
func mountsAt(t *testing.T, p string) int {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(p))
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

var tmpfsOpts = map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}

func TestRestartAdoptsVolumeMount(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) }) // even if the test fails midway
	d, _, _ := New(root)
	d.Create("v", tmpfsOpts)
	if _, err := d.Mount("v", tmpfsOpts, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.Path("v"), "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A restart while c1 still runs (live-restore): the new driver knows
	// the volume is mounted and takes c1's reference back without mounting
	// again.
	d2, fixed, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 0 {
		t.Fatalf("fixed = %v, want nothing (the mount is adopted)", fixed)
	}
	if !d2.Mounted("v") {
		t.Fatal("adopted mount not known as mounted")
	}
	for _, ref := range []string{"c1", "c2"} {
		if _, err := d2.Mount("v", tmpfsOpts, ref); err != nil {
			t.Fatal(err)
		}
	}
	if n := mountsAt(t, d2.Path("v")); n != 1 {
		t.Fatalf("%d mounts on the volume, want 1", n)
	}
	if b, err := os.ReadFile(filepath.Join(d2.Path("v"), "f")); err != nil || string(b) != "kept" {
		t.Fatalf("data of the adopted mount: %q, %v", b, err)
	}
	if err := d2.Unmount("v", "c1"); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, d2.Path("v")); n != 1 {
		t.Fatalf("unmounted while c2 still uses it (%d mounts)", n)
	}
	if err := d2.Unmount("v", "c2"); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, d2.Path("v")); n != 0 || d2.Mounted("v") {
		t.Fatalf("still mounted after the last reference went (%d mounts)", n)
	}
	if err := d2.Remove("v"); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptedMountWithoutReference(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) })
	d, _, _ := New(root)
	for _, name := range []string{"a", "b"} {
		d.Create(name, tmpfsOpts)
		if _, err := d.Mount(name, tmpfsOpts, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	d2, _, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	// The container that held a is gone: its release unmounts.
	if err := d2.Unmount("a", "gone"); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, d2.Path("a")); n != 0 {
		t.Fatalf("a: %d mounts after the release", n)
	}
	// Nobody claims b: removing the volume unmounts it.
	if err := d2.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if n := mountsAt(t, d2.Path("b")); n != 0 {
		t.Fatalf("b: %d mounts after remove", n)
	}
}

func TestStaleMountsUnmountedAtStart(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) })
	d, _, _ := New(root)
	d.Create("v", tmpfsOpts)
	if _, err := d.Mount("v", tmpfsOpts, "c1"); err != nil {
		t.Fatal(err)
	}
	// Not a volume's mount: inside its data, beside the volumes, and a
	// second filesystem stacked on the volume's.
	sub, other := filepath.Join(d.Path("v"), "sub"), filepath.Join(root, "other")
	for _, p := range []string{sub, other, d.Path("v")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mount.Mount("tmpfs", p, "tmpfs", "size=1m"); err != nil {
			t.Fatal(err)
		}
	}
	d2, fixed, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 3 {
		t.Fatalf("fixed = %v, want 3 unmounts", fixed)
	}
	if n := mountsAt(t, other); n != 0 {
		t.Fatalf("%s still mounted", other)
	}
	if n := mountsAt(t, d2.Path("v")); n != 1 || !d2.Mounted("v") {
		t.Fatalf("volume: %d mounts, adopted %v; want 1 adopted", n, d2.Mounted("v"))
	}
	if err := d2.Remove("v"); err != nil {
		t.Fatalf("remove: %v", err)
	}
}

func TestBindOptionMountsHostDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	host := t.TempDir()
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) })
	d, _, _ := New(root)
	opts := map[string]string{"type": "none", "o": "bind", "device": host}
	if err := d.Validate("b", opts); err != nil {
		t.Fatal(err)
	}
	d.Create("b", opts)
	path, err := d.Mount("b", opts, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Unmount("b", "c1"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "hello")); err != nil || string(b) != "hi" {
		t.Fatalf("write through the bind volume did not reach the host directory: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(d.Path("b"), "hello")); !os.IsNotExist(err) {
		t.Fatal("still mounted after the last unmount")
	}
	if err := d.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "hello")); err != nil {
		t.Fatal("removing the volume deleted the host directory's content")
	}
}
