package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/sys/mount"
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

func TestStaleMountsUnmountedAtStart(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) }) // even if the test fails midway
	d, _, _ := New(root)
	d.Create("v", nil)
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
	if _, err := d.Mount("v", opts, "ref"); err != nil {
		t.Fatal(err)
	}
	// A new driver on the same root (a restart) unmounts what nobody holds.
	_, fixed, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 1 {
		t.Fatalf("fixed = %v", fixed)
	}
	// The mount is gone, so the data directory can be removed.
	if err := d.Remove("v"); err != nil {
		t.Fatalf("remove after stale unmount: %v", err)
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
