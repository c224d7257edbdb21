package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

// An image's symlinks on the placeholders' paths must not lead initLayer
// out of the layer: they are replaced, as Docker replaces them.
func TestInitLayerSymlinks(t *testing.T) {
	outside := t.TempDir() // stands for the host's filesystem
	root := t.TempDir()
	for name, target := range map[string]string{
		"etc":  outside,                           // absolute, out of the layer
		"dev":  "../../../../../../../" + outside, // relative, climbing out
		"proc": outside + "/proc",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "sys", "hostdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := initLayer(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("initLayer wrote outside the layer: %v", names)
	}
	for _, dir := range []string{"etc", "dev", "dev/pts", "dev/shm", "proc", "sys"} {
		if fi, err := os.Lstat(filepath.Join(root, dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v, want a directory", dir, err)
		}
	}
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/console"} {
		if fi, err := os.Lstat(filepath.Join(root, f)); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			t.Errorf("%s: %v, want an empty file", f, err)
		}
	}
	if to, err := os.Readlink(filepath.Join(root, "etc", "mtab")); err != nil || to != "/proc/mounts" {
		t.Errorf("etc/mtab -> %q, %v", to, err)
	}
	if _, err := os.Stat(filepath.Join(root, "sys", "hostdir")); err != nil {
		t.Errorf("an existing directory's content went: %v", err)
	}

	// Again over its own result, and with a directory where a file goes.
	if err := os.Remove(filepath.Join(root, "etc", "hostname")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "etc", "hostname"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := initLayer(root); err != nil {
		t.Fatalf("second run: %v", err)
	}
}
