// Package graphtest is the test suite every graph driver runs: exported
// functions taking a *testing.T and the driver's Constructor, plus Run to
// run them all, tar builders, a generator of realistic layers for
// benchmarks, and the benchmarks themselves (BenchApplyDiff, BenchTarX).
//
// Each test makes its driver under a fresh temporary directory next to a
// canary directory, and on cleanup calls the driver's Cleanup, then fails
// if anything is still mounted under the temporary directory or the
// canary was touched.
package graphtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/graphdriver"
)

// Constructor makes a driver keeping its layers in root.
type Constructor func(root string) (graphdriver.Driver, error)

// Env is one test's driver and its surroundings.
type Env struct {
	T      testing.TB
	D      graphdriver.Driver
	Base   string // the test's temporary directory
	Root   string // the driver's root, Base/root
	Canary string // Base/canary, holding "sentinel"; nothing may touch it
}

const sentinelBody = "canary: nothing may write here\n"

// NewEnv makes a driver with ctor in a fresh directory; it skips the test
// when the driver is not supported here. On cleanup, the driver's Cleanup
// runs and the test fails if a mount remains under Base or the canary
// changed.
func NewEnv(tb testing.TB, ctor Constructor) *Env {
	tb.Helper()
	base := tb.TempDir()
	e := &Env{T: tb, Base: base, Root: filepath.Join(base, "root"), Canary: filepath.Join(base, "canary")}
	if err := os.Mkdir(e.Canary, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Canary, "sentinel"), []byte(sentinelBody), 0o644); err != nil {
		tb.Fatal(err)
	}
	d, err := ctor(e.Root)
	if errors.Is(err, graphdriver.ErrNotSupported) {
		tb.Skipf("driver not supported here: %v", err)
	}
	if err != nil {
		tb.Fatalf("new driver: %v", err)
	}
	e.D = d
	tb.Cleanup(func() {
		if err := d.Cleanup(); err != nil {
			tb.Errorf("driver Cleanup: %v", err)
		}
		mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(base))
		if err != nil {
			tb.Errorf("mountinfo: %v", err)
		}
		for _, m := range mounts {
			tb.Errorf("still mounted after Cleanup: %s (%s)", m.Mountpoint, m.FSType)
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH) // so TempDir can go
		}
		e.CheckCanary(tb)
	})
	return e
}

// CheckCanary fails tb if the canary directory holds anything but its
// untouched sentinel.
func (e *Env) CheckCanary(tb testing.TB) {
	tb.Helper()
	entries, err := os.ReadDir(e.Canary)
	if err != nil {
		tb.Errorf("canary: %v", err)
		return
	}
	for _, ent := range entries {
		if ent.Name() != "sentinel" {
			tb.Errorf("canary: %s appeared in %s", ent.Name(), e.Canary)
		}
	}
	p := filepath.Join(e.Canary, "sentinel")
	fi, err := os.Lstat(p)
	if err != nil {
		tb.Errorf("canary: %v", err)
		return
	}
	if !fi.Mode().IsRegular() || fi.Sys().(*syscall.Stat_t).Nlink != 1 || fi.Mode().Perm() != 0o644 {
		tb.Errorf("canary: sentinel is now %v with %d links", fi.Mode(), fi.Sys().(*syscall.Stat_t).Nlink)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != sentinelBody {
		tb.Errorf("canary: sentinel content changed: %q, %v", b, err)
	}
	for _, dir := range []string{e.Canary, p} {
		v, _ := lgetxattrs(dir)
		for _, x := range v {
			if strings.HasPrefix(x, "trusted.") || strings.HasPrefix(x, "user.") {
				tb.Errorf("canary: %s gained xattr %s", dir, x)
			}
		}
	}
}

// Must fails the test on err.
func (e *Env) Must(err error) {
	e.T.Helper()
	if err != nil {
		e.T.Fatal(err)
	}
}

// Create makes a read-only layer id on parent and fails the test if it
// cannot.
func (e *Env) Create(id, parent string) {
	e.T.Helper()
	if err := e.D.Create(id, parent); err != nil {
		e.T.Fatalf("Create(%s, %s): %v", id, parent, err)
	}
}

// Apply applies the tar of entries to layer id and returns the size.
func (e *Env) Apply(id, parent string, entries ...Entry) int64 {
	e.T.Helper()
	size, err := e.D.ApplyDiff(id, parent, bytes.NewReader(Tar(e.T, entries...)))
	if err != nil {
		e.T.Fatalf("ApplyDiff(%s, %s): %v", id, parent, err)
	}
	return size
}

// Layer creates layer id on parent and applies entries to it.
func (e *Env) Layer(id, parent string, entries ...Entry) {
	e.T.Helper()
	e.Create(id, parent)
	e.Apply(id, parent, entries...)
}

// Get mounts layer id, registering its Put for cleanup unless the test
// puts it itself (then pass put=false).
func (e *Env) Get(id string, put bool) string {
	e.T.Helper()
	dir, err := e.D.Get(id)
	if err != nil {
		e.T.Fatalf("Get(%s): %v", id, err)
	}
	if put {
		e.T.Cleanup(func() {
			if err := e.D.Put(id); err != nil {
				e.T.Errorf("Put(%s): %v", id, err)
			}
		})
	}
	return dir
}

// View returns Tree of layer id's full filesystem.
func (e *Env) View(id string) map[string]string {
	e.T.Helper()
	dir, err := e.D.Get(id)
	if err != nil {
		e.T.Fatalf("Get(%s): %v", id, err)
	}
	defer func() {
		if err := e.D.Put(id); err != nil {
			e.T.Errorf("Put(%s): %v", id, err)
		}
	}()
	return Tree(e.T, dir)
}

// Tree describes every entry under dir, keyed by its path from dir
// ("/etc/passwd"): type, permissions, owner, size and content hash,
// link target, device numbers, which earlier path a hard link shares its
// inode with, and for non-directories the mtime to the second. Directory
// mtimes are left out (overlay and extraction order move them), and so
// are xattrs (Diff carries only security.capability, as Docker's does).
func Tree(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	tree := make(map[string]string)
	inodes := make(map[uint64]string)
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, dir)
		if rel == "" {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.IsDir():
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size=%d sha256=%x mtime=%d", len(b), sha256.Sum256(b), fi.ModTime().Unix())
			if st.Nlink > 1 {
				if first, ok := inodes[st.Ino]; ok {
					desc += " hardlink-of=" + first
				} else {
					inodes[st.Ino] = rel
				}
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode()&fs.ModeDevice != 0:
			desc += fmt.Sprintf(" dev=%d:%d mtime=%d", unix.Major(st.Rdev), unix.Minor(st.Rdev), fi.ModTime().Unix())
		default:
			desc += fmt.Sprintf(" mtime=%d", fi.ModTime().Unix())
		}
		tree[rel] = desc
		return nil
	})
	if err != nil {
		tb.Fatalf("tree of %s: %v", dir, err)
	}
	return tree
}

// DiffTrees lists the differences between two Trees, empty when equal.
func DiffTrees(want, got map[string]string) []string {
	var out []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			out = append(out, fmt.Sprintf("missing %s (%s)", p, w))
		} else if g != w {
			out = append(out, fmt.Sprintf("%s: want %s, got %s", p, w, g))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("unexpected %s (%s)", p, g))
		}
	}
	slices.Sort(out)
	return out
}

func lgetxattrs(p string) ([]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range bytes.Split(buf[:n], []byte{0}) {
		if len(s) > 0 {
			names = append(names, string(s))
		}
	}
	slices.Sort(names)
	return names, nil
}
