package graphtest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// marker is in the name of every file a malicious tar tries to plant.
const marker = "evil"

// TestMaliciousTars applies tars that try to write outside the layer
// (path traversal, absolute paths, writes and hard links through symlinks
// that point outside, whiteouts and opaque markers through such symlinks)
// to a base layer and to a child layer, and checks that nothing outside
// the layer changed: the canary directory next to the driver root, the
// host's /etc, and the rest of the test directory (every file whose name
// has "evil" in it must be one the layer's own filesystem shows). Escapes
// the extractor can detect must fail; the others may succeed only by
// staying inside the layer (absolute paths and symlink targets resolve
// against the layer's root, as in a chroot).
func TestMaliciousTars(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	e.Layer("mbase", "", Dir("etc/"), File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"))

	up := strings.Repeat("../", 40)
	canaryRel := strings.TrimPrefix(e.Canary, "/") // reached from / by enough ../
	hostFile := fmt.Sprintf("/etc/berth-graphtest-%s-%d", marker, os.Getpid())
	t.Cleanup(func() { _ = os.Remove(hostFile) })

	cases := []struct {
		name     string
		entries  []Entry
		mustFail bool
		inside   []string // must be in the layer's view if ApplyDiff succeeded
	}{
		{name: "dotdot-to-canary", entries: []Entry{File(up+canaryRel+"/"+marker, "x")}, mustFail: true},
		{name: "dotdot-etc", entries: []Entry{File("../../etc/"+filepath.Base(hostFile), "x")}, mustFail: true},
		{name: "dotdot-mid-path", entries: []Entry{Dir("a/"), File("a/../../../"+marker, "x")}, mustFail: true},
		{name: "dotdot-dir", entries: []Entry{Dir(up + canaryRel + "/" + marker + "-dir/")}, mustFail: true},
		{
			name:    "absolute-paths",
			entries: []Entry{File(hostFile, "x"), File(e.Canary+"/"+marker+"-abs", "x")},
			inside:  []string{hostFile, e.Canary + "/" + marker + "-abs"},
		},
		{name: "symlink-abs-then-write", entries: []Entry{Symlink(marker+"-link", e.Canary), File(marker+"-link/"+marker, "x")}},
		{name: "symlink-rel-then-write", entries: []Entry{Symlink(marker+"-link", up+canaryRel), File(marker+"-link/"+marker, "x")}},
		{name: "symlink-chain-then-write", entries: []Entry{
			Symlink(marker+"-l1", marker+"-l2"), Symlink(marker+"-l2", e.Canary), File(marker+"-l1/"+marker, "x"),
		}},
		{name: "symlink-then-mkdir", entries: []Entry{Symlink(marker+"-link", e.Canary), Dir(marker + "-link/" + marker + "-dir/")}},
		{name: "symlink-then-overwrite", entries: []Entry{Symlink(marker+"-link", e.Canary), File(marker+"-link/sentinel", "pwned")}},
		{name: "symlink-to-file-then-overwrite", entries: []Entry{
			Symlink(marker+"-f", e.Canary+"/sentinel"), File(marker+"-f", "pwned"),
		}},
		{name: "symlink-then-hardlink", entries: []Entry{Symlink(marker+"-link", e.Canary), Hardlink(marker+"-hard", marker+"-link/sentinel")}},
		{name: "hardlink-dotdot-passwd", entries: []Entry{Hardlink(marker+"-hard", "../../../etc/passwd")}, mustFail: true},
		{name: "hardlink-dotdot-canary", entries: []Entry{Hardlink(marker+"-hard", up+canaryRel+"/sentinel")}, mustFail: true},
		{name: "hardlink-absolute", entries: []Entry{Hardlink(marker+"-hard", e.Canary+"/sentinel")}},
		{name: "hardlink-to-outside-symlink-then-write", entries: []Entry{
			Symlink(marker+"-f", e.Canary+"/sentinel"), Hardlink(marker+"-hard", marker+"-f"), File(marker+"-hard", "pwned"),
		}},
		{name: "symlink-then-whiteout", entries: []Entry{Symlink(marker+"-link", e.Canary), Whiteout(marker + "-link/sentinel")}},
		{name: "symlink-then-opaque", entries: []Entry{Symlink(marker+"-link", e.Canary), Opaque(marker + "-link")}},
		{name: "whiteout-dotdot", entries: []Entry{Whiteout(up + canaryRel + "/sentinel")}, mustFail: true},
		{name: "whiteout-dot-names", entries: []Entry{Dir("sub/"), File("sub/.wh..", ""), File("sub/.wh...", "")}},
		{name: "symlink-then-xattr", entries: []Entry{
			Symlink(marker+"-link", e.Canary),
			{Name: marker + "-link/sentinel", Body: "x", Xattrs: map[string]string{"user." + marker: "x"}},
		}},
	}

	n := 0
	for _, tc := range cases {
		for _, onChild := range []bool{false, true} {
			n++
			id, parent, variant := fmt.Sprintf("m%02d", n), "", "base"
			if onChild {
				parent, variant = "mbase", "child"
			}
			t.Run(tc.name+"/"+variant, func(t *testing.T) {
				e.Must(e.D.Create(id, parent))
				_, err := e.D.ApplyDiff(id, parent, bytes.NewReader(Tar(t, tc.entries...)))
				if tc.mustFail && err == nil {
					t.Errorf("ApplyDiff succeeded")
				}
				t.Logf("ApplyDiff: %v", err)
				if _, serr := os.Lstat(hostFile); serr == nil {
					t.Errorf("%s was written on the host", hostFile)
					_ = os.Remove(hostFile)
				}
				e.CheckCanary(t)
				checkNoEscape(t, e, id)
				if err == nil && len(tc.inside) > 0 {
					view := e.View(id)
					for _, p := range tc.inside {
						if view[p] == "" {
							t.Errorf("%s is not in the layer", p)
						}
					}
				}
				e.Must(e.D.Remove(id))
			})
		}
	}
}

// checkNoEscape fails if a file named with the marker exists under the
// test directory and is not one of layer id's own: every such file must
// be the same inode as one layer id's filesystem shows.
func checkNoEscape(t *testing.T, e *Env, id string) {
	t.Helper()
	view, err := e.D.Get(id)
	if err != nil {
		t.Errorf("Get(%s): %v", id, err)
		return
	}
	defer func() { _ = e.D.Put(id) }()
	inLayer := make(map[uint64]bool)
	walk := func(root string, fn func(p string, st *syscall.Stat_t)) {
		_ = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p != root && root != view && (p == view || strings.HasPrefix(p, view+"/")) {
				return fs.SkipDir
			}
			// Layers removed by earlier cases, still being deleted in
			// the background (internal/trash).
			if p == filepath.Join(e.Root, "trash") {
				return fs.SkipDir
			}
			if strings.Contains(de.Name(), marker) {
				if fi, err := de.Info(); err == nil {
					fn(p, fi.Sys().(*syscall.Stat_t))
				}
			}
			return nil
		})
	}
	walk(view, func(_ string, st *syscall.Stat_t) { inLayer[st.Ino] = true })
	walk(e.Base, func(p string, st *syscall.Stat_t) {
		if !inLayer[st.Ino] {
			t.Errorf("%s was written outside the layer", p)
		}
	})
}

// TestDeviceNodes: character and block devices and fifos in a layer are
// created as such (Docker allows them in layers: images ship /dev
// entries), in a base layer and in a child layer. Needs root.
func TestDeviceNodes(t *testing.T, ctor Constructor) {
	if os.Geteuid() != 0 {
		t.Skip("creating device nodes needs root")
	}
	e := NewEnv(t, ctor)
	entries := []Entry{
		Dir("dev/"),
		{Name: "dev/null2", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		{Name: "dev/loop-x", Type: tar.TypeBlock, Major: 7, Minor: 200, Mode: 0o660, GID: 6},
		{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600},
	}
	e.Layer("base", "", entries...)
	e.Layer("child", "base", Dir("dev/"), entries[1], File("dev/other", "x"))
	for _, id := range []string{"base", "child"} {
		dir := e.Get(id, true)
		check := func(name string, mode fs.FileMode, major, minor uint32) {
			t.Helper()
			fi, err := os.Lstat(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s: %s: %v", id, name, err)
				return
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode() != mode || unix.Major(st.Rdev) != major || unix.Minor(st.Rdev) != minor {
				t.Errorf("%s: %s is %v %d:%d, want %v %d:%d", id, name, fi.Mode(), unix.Major(st.Rdev), unix.Minor(st.Rdev), mode, major, minor)
			}
		}
		check("dev/null2", fs.ModeDevice|fs.ModeCharDevice|0o666, 1, 3)
		check("dev/loop-x", fs.ModeDevice|0o660, 7, 200)
		check("dev/fifo", fs.ModeNamedPipe|0o600, 0, 0)
	}
}

// TestCorruptTars: a truncated tar, garbage and a header with a bad
// checksum make ApplyDiff fail (on base and child layers), and the layer
// can still be removed.
func TestCorruptTars(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	e.Layer("cbase", "", File("f", "x"))
	good := Tar(t, File("a", strings.Repeat("a", 4096)), File("b", strings.Repeat("b", 4096)))
	badSum := bytes.Clone(good)
	badSum[10] ^= 0xff // in the first header's name
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rand.Uint32())
	}
	cases := map[string][]byte{
		"truncated-in-data":   good[:512+2000],
		"truncated-in-header": good[:512+4096+100],
		"garbage":             garbage,
		"bad-checksum":        badSum,
	}
	n := 0
	for name, data := range cases {
		for _, parent := range []string{"", "cbase"} {
			n++
			id := fmt.Sprintf("c%02d", n)
			e.Create(id, parent)
			if _, err := e.D.ApplyDiff(id, parent, bytes.NewReader(data)); err == nil {
				t.Errorf("%s (parent %q): ApplyDiff succeeded", name, parent)
			}
			e.Must(e.D.Remove(id))
		}
	}
}
