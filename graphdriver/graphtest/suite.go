package graphtest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/graphdriver"
)

// Run runs every test of the suite as a parallel subtest.
func Run(t *testing.T, ctor Constructor) {
	tests := []struct {
		name string
		fn   func(*testing.T, Constructor)
	}{
		{"CreateExistsRemove", TestCreateExistsRemove},
		{"ApplyDiff", TestApplyDiff},
		{"Whiteouts", TestWhiteouts},
		{"Changes", TestChanges},
		{"DiffSize", TestDiffSize},
		{"DiffRoundTrip", TestDiffRoundTrip},
		{"ReadWriteLayer", TestReadWriteLayer},
		{"RefCount", TestRefCount},
		{"ConcurrentGetPut", TestConcurrentGetPut},
		{"DeepChain", TestDeepChain},
		{"MaliciousTars", TestMaliciousTars},
		{"DeviceNodes", TestDeviceNodes},
		{"CorruptTars", TestCorruptTars},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, ctor)
		})
	}
}

// BaseEntries is the base layer the suite builds on: directories (one
// only implied), files with various modes and owners, a hard link,
// relative and absolute symlinks, a setuid file and a user xattr.
func BaseEntries() []Entry {
	return []Entry{
		Dir("etc/"),
		File("etc/conf", "v1"),
		{Name: "etc/secret", Body: "s", Mode: 0o600, UID: 1000, GID: 1000},
		Dir("bin/"),
		{Name: "bin/tool", Body: "#!/bin/sh\necho hi\n", Mode: 0o755},
		{Name: "bin/tool-link", Type: tar.TypeLink, Linkname: "bin/tool", Mode: 0o755},
		Symlink("bin/rel-symlink", "tool"),
		Symlink("abs-symlink", "/etc/conf"),
		File("gone", "bye"),
		Dir("dir/"),
		File("dir/a", "a"),
		File("dir/b", "b"),
		File("dir/sub/c", "c"),
		File("keep", "keep"),
		{Name: "empty/", Type: tar.TypeDir, Mode: 0o700},
		File("implied/deep/file", "deep"),
		{Name: "setuid", Body: "x", Mode: 0o4755},
		{Name: "xattr", Body: "x", Xattrs: map[string]string{"user.berth": "hello"}},
	}
}

// ChildEntries changes the base layer: a modified file, a new one, a
// whiteout, and an opaque directory with new content.
func ChildEntries() []Entry {
	return []Entry{
		Dir("etc/"),
		File("etc/conf", "v2-longer"),
		File("new", "new file"),
		Whiteout("gone"),
		Dir("dir/"),
		Opaque("dir"),
		File("dir/c", "c2"),
	}
}

// GrandchildEntries is a third layer: deletes a base file, brings back
// the file the child deleted, adds to the opaque directory.
func GrandchildEntries() []Entry {
	return []Entry{
		Whiteout("keep"),
		File("gone", "back again"),
		File("dir/d", "d"),
	}
}

func regularBytes(entries []Entry) int64 {
	var n int64
	for _, e := range entries {
		if e.Type == 0 && (len(e.Name) == 0 || e.Name[len(e.Name)-1] != '/') {
			n += int64(len(e.Body))
		}
	}
	return n
}

// layers builds base, child (on base) and grandchild (on child).
func layers(e *Env) {
	e.T.Helper()
	e.Layer("base", "", BaseEntries()...)
	e.Layer("child", "base", ChildEntries()...)
	e.Layer("grandchild", "child", GrandchildEntries()...)
}

// TestCreateExistsRemove: Create, Exists, Remove and their errors.
func TestCreateExistsRemove(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	d := e.D
	if d.Exists("base") {
		t.Fatal("Exists before Create")
	}
	e.Create("base", "")
	if !d.Exists("base") {
		t.Fatal("!Exists after Create")
	}
	if err := d.Create("base", ""); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create twice: %v, want ErrExist", err)
	}
	if err := d.Create("orphan", "no-such-parent"); !errors.Is(err, graphdriver.ErrLayerNotFound) {
		t.Errorf("Create on a missing parent: %v, want ErrLayerNotFound", err)
	}
	if d.Exists("orphan") {
		t.Error("failed Create left the layer behind")
	}
	if _, err := d.Get("nope"); !errors.Is(err, graphdriver.ErrLayerNotFound) {
		t.Errorf("Get of a missing layer: %v, want ErrLayerNotFound", err)
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "/abs", "a,b", "a:b"} {
		if err := d.Create(bad, ""); !errors.Is(err, graphdriver.ErrInvalidID) {
			t.Errorf("Create(%q): %v, want ErrInvalidID", bad, err)
		}
		if _, err := d.Get(bad); !errors.Is(err, graphdriver.ErrInvalidID) {
			t.Errorf("Get(%q): %v, want ErrInvalidID", bad, err)
		}
		if err := d.Remove(bad); !errors.Is(err, graphdriver.ErrInvalidID) {
			t.Errorf("Remove(%q): %v, want ErrInvalidID", bad, err)
		}
		if d.Exists(bad) {
			t.Errorf("Exists(%q)", bad)
		}
	}
	if err := d.Create("kid", "../base"); err == nil {
		t.Error("Create with parent ../base succeeded")
	}

	e.Apply("base", "", File("f", "x"))
	e.Layer("child", "base", File("g", "y"))
	e.Must(d.CreateReadWrite("rw", "child"))

	// Remove while mounted: refused (and the layer intact) or done.
	dir := e.Get("rw", false)
	if err := d.Remove("rw"); err != nil {
		if !errors.Is(err, graphdriver.ErrLayerInUse) {
			t.Errorf("Remove of a mounted layer: %v, want ErrLayerInUse", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "g")); err != nil || string(b) != "y" {
			t.Errorf("refused Remove damaged the layer: %q %v", b, err)
		}
	}
	e.Must(d.Put("rw"))
	e.Must(d.Remove("rw"))
	if d.Exists("rw") {
		t.Error("Exists after Remove")
	}
	if _, err := d.Get("rw"); !errors.Is(err, graphdriver.ErrLayerNotFound) {
		t.Errorf("Get after Remove: %v, want ErrLayerNotFound", err)
	}
	if err := d.Remove("rw"); err != nil {
		t.Errorf("Remove of a missing layer: %v", err)
	}
	e.Must(d.Remove("child"))
	e.Must(d.Remove("base"))
	// The ID can be used again.
	e.Layer("base", "", File("h", "z"))
	if v := e.View("base"); v["/h"] == "" || v["/f"] != "" {
		t.Errorf("recreated layer: %v", v)
	}
	// A driver may delete a removed layer's files in the background;
	// after Cleanup they are gone from the disk.
	e.Must(d.Remove("base"))
	e.Must(d.Cleanup())
	_ = filepath.WalkDir(e.Root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			t.Errorf("%s left on disk after every layer was removed", p)
		}
		return nil
	})
}

// TestApplyDiff: a base layer's files, directories, modes, owners, links
// and xattrs arrive intact, and ApplyDiff reports their size.
func TestApplyDiff(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	e.Create("base", "")
	if size := e.Apply("base", "", BaseEntries()...); size != regularBytes(BaseEntries()) {
		t.Errorf("ApplyDiff size %d, want %d", size, regularBytes(BaseEntries()))
	}
	e.Create("child", "base")
	if size := e.Apply("child", "base", ChildEntries()...); size != regularBytes(ChildEntries()) {
		t.Errorf("child ApplyDiff size %d, want %d", size, regularBytes(ChildEntries()))
	}

	dir := e.Get("base", true)
	p := func(s string) string { return filepath.Join(dir, s) }
	lstat := func(s string) (fs.FileInfo, *syscall.Stat_t) {
		t.Helper()
		fi, err := os.Lstat(p(s))
		if err != nil {
			t.Fatal(err)
		}
		return fi, fi.Sys().(*syscall.Stat_t)
	}
	if b, err := os.ReadFile(p("etc/conf")); err != nil || string(b) != "v1" {
		t.Errorf("etc/conf: %q %v", b, err)
	}
	if fi, _ := lstat("etc/conf"); !fi.ModTime().Equal(Epoch) || fi.Mode() != 0o644 {
		t.Errorf("etc/conf: mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if fi, st := lstat("etc/secret"); fi.Mode() != 0o600 || st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("etc/secret: %v %d:%d", fi.Mode(), st.Uid, st.Gid)
	}
	_, tool := lstat("bin/tool")
	if fi, link := lstat("bin/tool-link"); link.Ino != tool.Ino || fi.Mode() != 0o755 || tool.Nlink != 2 {
		t.Errorf("bin/tool-link is not a hard link of bin/tool (%d, %d, %d links)", link.Ino, tool.Ino, tool.Nlink)
	}
	for link, target := range map[string]string{"bin/rel-symlink": "tool", "abs-symlink": "/etc/conf"} {
		if got, err := os.Readlink(p(link)); err != nil || got != target {
			t.Errorf("%s -> %q %v, want %q", link, got, err, target)
		}
	}
	if fi, _ := lstat("empty"); !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("empty: %v", fi.Mode())
	}
	if fi, _ := lstat("implied/deep"); !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("implied/deep: %v", fi.Mode())
	}
	if fi, _ := lstat("setuid"); fi.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("setuid lost its bit: %v", fi.Mode())
	}
	v := make([]byte, 64)
	if n, err := unix.Lgetxattr(p("xattr"), "user.berth", v); err != nil || string(v[:n]) != "hello" {
		t.Errorf("xattr user.berth: %q %v", v[:max(n, 0)], err)
	}
}

// TestWhiteouts: in the merged view of a child, whited-out files and the
// old content of opaque directories are gone; the layers below are
// untouched; a grandchild can bring back what the child deleted.
func TestWhiteouts(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	base := e.View("base")
	child := e.View("child")
	grand := e.View("grandchild")

	for _, p := range []string{"/gone", "/dir/a", "/dir/b", "/dir/sub", "/dir/sub/c"} {
		if base[p] == "" {
			t.Errorf("base lost %s", p)
		}
		if child[p] != "" {
			t.Errorf("child still shows %s: %s", p, child[p])
		}
	}
	for _, p := range []string{"/new", "/dir/c", "/keep", "/bin/tool", "/etc/secret"} {
		if child[p] == "" {
			t.Errorf("child lacks %s", p)
		}
	}
	if child["/etc/conf"] == base["/etc/conf"] {
		t.Error("child's /etc/conf is the base's")
	}
	want := make(map[string]string)
	for p, v := range base {
		want[p] = v
	}
	for _, p := range []string{"/gone", "/dir/a", "/dir/b", "/dir/sub", "/dir/sub/c"} {
		delete(want, p)
	}
	for _, p := range []string{"/new", "/dir/c", "/etc/conf", "/etc", "/dir"} {
		want[p] = child[p]
	}
	if d := DiffTrees(want, child); len(d) > 0 {
		t.Errorf("child view:\n%s", strings.Join(d, "\n"))
	}

	if grand["/keep"] != "" {
		t.Error("grandchild still shows /keep")
	}
	if !strings.Contains(grand["/gone"], "size=10") {
		t.Errorf("grandchild /gone: %q", grand["/gone"])
	}
	for _, p := range []string{"/dir/c", "/dir/d", "/new"} {
		if grand[p] == "" {
			t.Errorf("grandchild lacks %s", p)
		}
	}
	for _, p := range []string{"/dir/a", "/dir/sub"} {
		if grand[p] != "" {
			t.Errorf("grandchild shows %s again", p)
		}
	}
}

// changes returns Changes(id, parent) as sorted "A /path" strings.
func changes(tb testing.TB, e *Env, id, parent string) []string {
	tb.Helper()
	changes, err := e.D.Changes(id, parent)
	if err != nil {
		tb.Fatalf("Changes(%s, %s): %v", id, parent, err)
	}
	var out []string
	for _, c := range changes {
		out = append(out, c.String())
	}
	slices.Sort(out)
	return out
}

// TestChanges: Changes against the parent and against nothing.
func TestChanges(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)

	got := changes(t, e, "child", "base")
	want := []string{"A /dir/c", "A /new", "C /dir", "C /etc", "C /etc/conf", "D /dir/a", "D /dir/b", "D /dir/sub", "D /gone"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Changes(child, base):\n got %q\nwant %q", got, want)
	}

	got = changes(t, e, "grandchild", "child")
	want = []string{"A /dir/d", "A /gone", "C /dir", "D /keep"}
	if !slices.Equal(got, want) {
		t.Errorf("Changes(grandchild, child):\n got %q\nwant %q", got, want)
	}

	got = changes(t, e, "base", "")
	tree := e.View("base")
	if len(got) != len(tree) {
		t.Errorf("Changes(base, \"\") has %d entries, the layer %d: %q", len(got), len(tree), got)
	}
	for _, c := range got {
		if c[0] != 'A' || tree[c[2:]] == "" {
			t.Errorf("Changes(base, \"\"): %s", c)
		}
	}

	// Against a layer that is not the parent (the grandparent).
	got = changes(t, e, "grandchild", "base")
	want = []string{"A /dir/c", "A /dir/d", "A /new", "C /dir", "C /etc", "C /etc/conf", "C /gone", "D /dir/a", "D /dir/b", "D /dir/sub", "D /keep"}
	if !slices.Equal(got, want) {
		t.Errorf("Changes(grandchild, base):\n got %q\nwant %q", got, want)
	}
}

// TestDiffSize: the size of the changed regular files and symlinks.
func TestDiffSize(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	check := func(id, parent string, want int64) {
		t.Helper()
		if got, err := e.D.DiffSize(id, parent); err != nil || got != want {
			t.Errorf("DiffSize(%s, %s) = %d, %v; want %d", id, parent, got, err, want)
		}
	}
	check("child", "base", regularBytes(ChildEntries()))
	check("grandchild", "child", regularBytes(GrandchildEntries()))
	// Hard links count once; symlinks count their target's length.
	check("base", "", regularBytes(BaseEntries())+int64(len("tool")+len("/etc/conf")))
}

// TestDiffRoundTrip: applying a layer's Diff to a fresh layer on the same
// parent gives the same filesystem, and the Diff is in the image format.
func TestDiffRoundTrip(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	for _, l := range [][2]string{{"base", ""}, {"child", "base"}, {"grandchild", "child"}} {
		id, parent := l[0], l[1]
		rc, err := e.D.Diff(id, parent)
		if err != nil {
			t.Fatalf("Diff(%s): %v", id, err)
		}
		copyID := id + "-copy"
		e.Create(copyID, parent)
		size, err := e.D.ApplyDiff(copyID, parent, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("ApplyDiff(Diff(%s)): %v", id, err)
		}
		if want, err := e.D.DiffSize(id, parent); err != nil || size > want {
			t.Errorf("%s: ApplyDiff of its Diff reports %d bytes, DiffSize %d (%v)", id, size, want, err)
		}
		if d := DiffTrees(e.View(id), e.View(copyID)); len(d) > 0 {
			t.Errorf("%s and the layer made from its Diff differ:\n%s", id, strings.Join(d, "\n"))
		}
	}

	rc, err := e.D.Diff("child", "base")
	if err != nil {
		t.Fatal(err)
	}
	names, err := TarNames(rc)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".wh.gone", "new", "etc/conf", "dir/c"} {
		if !slices.Contains(names, n) {
			t.Errorf("Diff(child) lacks %s: %q", n, names)
		}
	}
	opaque := slices.Contains(names, "dir/.wh..wh..opq")
	each := slices.Contains(names, "dir/.wh.a") && slices.Contains(names, "dir/.wh.b") && slices.Contains(names, "dir/.wh.sub")
	if !opaque && !each {
		t.Errorf("Diff(child) deletes neither dir/ (opaque) nor its entries: %q", names)
	}
	for _, n := range names {
		if n == "gone" || n == "dir/a" {
			t.Errorf("Diff(child) has %s", n)
		}
	}
}

// TestReadWriteLayer: writes through Get of a read-write layer persist
// across Put and Get, and Changes, DiffSize and Diff show them.
func TestReadWriteLayer(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	e.Must(e.D.CreateReadWrite("rw", "child"))
	dir := e.Get("rw", false)
	p := func(s string) string { return filepath.Join(dir, s) }
	e.Must(os.WriteFile(p("rwfile"), []byte("written"), 0o644))
	e.Must(os.Remove(p("keep")))
	e.Must(os.WriteFile(p("etc/conf"), []byte("v3"), 0o644))
	e.Must(os.Chmod(p("etc/secret"), 0o640))
	e.Must(os.RemoveAll(p("bin")))
	e.Must(os.Mkdir(p("bin"), 0o755))
	e.Must(os.Chmod(p("bin"), 0o755))
	e.Must(os.WriteFile(p("bin/only"), []byte("only"), 0o755))
	e.Must(os.MkdirAll(p("newdir"), 0o755))
	e.Must(os.WriteFile(p("newdir/f"), []byte("f"), 0o644))
	e.Must(e.D.Put("rw"))

	view := e.View("rw")
	for path, want := range map[string]string{"/rwfile": "size=7", "/etc/conf": "size=2", "/bin/only": "size=4", "/etc/secret": "-rw-r-----"} {
		if !strings.Contains(view[path], want) {
			t.Errorf("after Put and Get, %s is %q, want %s", path, view[path], want)
		}
	}
	for _, gone := range []string{"/keep", "/bin/tool", "/bin/tool-link"} {
		if view[gone] != "" {
			t.Errorf("after Put and Get, %s is back", gone)
		}
	}

	got := changes(t, e, "rw", "child")
	want := []string{"A /bin/only", "A /newdir", "A /newdir/f", "A /rwfile", "C /bin", "C /etc", "C /etc/conf", "C /etc/secret",
		"D /bin/rel-symlink", "D /bin/tool", "D /bin/tool-link", "D /keep"}
	if !slices.Equal(got, want) {
		t.Errorf("Changes(rw, child):\n got %q\nwant %q", got, want)
	}
	if size, err := e.D.DiffSize("rw", "child"); err != nil || size != int64(len("written")+len("v3")+len("s")+len("only")+len("f")) {
		t.Errorf("DiffSize(rw) = %d, %v", size, err)
	}

	rc, err := e.D.Diff("rw", "child")
	e.Must(err)
	e.Create("rw-copy", "child")
	_, err = e.D.ApplyDiff("rw-copy", "child", rc)
	rc.Close()
	e.Must(err)
	if d := DiffTrees(view, e.View("rw-copy")); len(d) > 0 {
		t.Errorf("rw and the layer made from its Diff differ:\n%s", strings.Join(d, "\n"))
	}
	rc, err = e.D.Diff("rw", "child")
	e.Must(err)
	names, err := TarNames(rc)
	e.Must(err)
	for _, n := range []string{"rwfile", ".wh.keep", "etc/conf", "etc/secret", "bin/only", "newdir/", "newdir/f"} {
		if !slices.Contains(names, n) {
			t.Errorf("Diff(rw) lacks %s: %q", n, names)
		}
	}

	// A read-write layer with no parent (a container from scratch).
	e.Must(e.D.CreateReadWrite("scratch", ""))
	dir = e.Get("scratch", false)
	e.Must(os.WriteFile(filepath.Join(dir, "hello"), []byte("hi"), 0o644))
	e.Must(e.D.Put("scratch"))
	if got := changes(t, e, "scratch", ""); !slices.Equal(got, []string{"A /hello"}) {
		t.Errorf("Changes(scratch): %q", got)
	}
	rc, err = e.D.Diff("scratch", "")
	e.Must(err)
	names, err = TarNames(rc)
	e.Must(err)
	if !slices.Equal(names, []string{"hello"}) {
		t.Errorf("Diff(scratch): %q", names)
	}
}

func mounted(tb testing.TB, dir string) bool {
	tb.Helper()
	m, err := mountinfo.Mounted(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestRefCount: two Gets and one Put leave the layer mounted; the second
// Put unmounts it (for drivers that mount); a Put too many is harmless.
func TestRefCount(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	e.Must(e.D.CreateReadWrite("rw", "child"))
	for _, id := range []string{"base", "child", "rw"} {
		d1 := e.Get(id, false)
		d2 := e.Get(id, false)
		if d1 != d2 {
			t.Errorf("%s: two Gets gave %s and %s", id, d1, d2)
		}
		wasMounted := mounted(t, d1)
		e.Must(e.D.Put(id))
		if mounted(t, d1) != wasMounted {
			t.Errorf("%s: one Put of two changed the mount", id)
		}
		if _, err := os.Stat(filepath.Join(d1, "etc/conf")); err != nil {
			t.Errorf("%s: one Put of two: %v", id, err)
		}
		e.Must(e.D.Put(id))
		if wasMounted && mounted(t, d1) {
			t.Errorf("%s: still mounted after the last Put", id)
		}
		if err := e.D.Put(id); err != nil {
			t.Errorf("%s: a Put too many: %v", id, err)
		}
		// And it mounts again.
		if v := e.View(id); v["/etc/conf"] == "" {
			t.Errorf("%s: Get after Puts: %v", id, v)
		}
	}
}

// TestConcurrentGetPut: Gets and Puts of the same and other layers from
// several goroutines; nothing stays mounted.
func TestConcurrentGetPut(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	layers(e)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := []string{"child", "grandchild"}[g%2]
			for range 20 {
				dir, err := e.D.Get(id)
				if err != nil {
					errs <- err
					return
				}
				if _, err := os.ReadFile(filepath.Join(dir, "new")); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
				}
				if err := e.D.Put(id); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m, err := mountinfo.GetMounts(mountinfo.PrefixFilter(e.Root)); err != nil || len(m) > 0 {
		t.Errorf("mounts left after balanced Gets and Puts: %d %v", len(m), err)
	}
}

// ChainDepth is how many layers TestDeepChain stacks (Docker allows 127
// image layers under a container's).
const ChainDepth = 125

// TestDeepChain: a chain of ChainDepth layers with a read-write layer on
// top mounts, shows every layer's file (less one a later layer deleted),
// and takes writes; a layer in the middle mounts too.
func TestDeepChain(t *testing.T, ctor Constructor) {
	e := NewEnv(t, ctor)
	cwd, _ := os.Getwd()
	parent := ""
	for i := range ChainDepth {
		id := fmt.Sprintf("chain%03d", i)
		entries := []Entry{File(fmt.Sprintf("files/f%03d", i), strconv.Itoa(i))}
		if i == 60 {
			entries = append(entries, Whiteout("files/f010"))
		}
		e.Layer(id, parent, entries...)
		parent = id
	}
	e.Must(e.D.CreateReadWrite("chain-rw", parent))
	dir := e.Get("chain-rw", false)
	entries, err := os.ReadDir(filepath.Join(dir, "files"))
	e.Must(err)
	if len(entries) != ChainDepth-1 {
		t.Errorf("top of the chain shows %d files, want %d", len(entries), ChainDepth-1)
	}
	last := fmt.Sprintf("files/f%03d", ChainDepth-1)
	if b, err := os.ReadFile(filepath.Join(dir, last)); err != nil || string(b) != strconv.Itoa(ChainDepth-1) {
		t.Errorf("%s: %q %v", last, b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "files/f010")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("files/f010 deleted in layer 60 is visible: %v", err)
	}
	e.Must(os.WriteFile(filepath.Join(dir, "files/rw"), []byte("rw"), 0o644))
	e.Must(e.D.Put("chain-rw"))

	mid := e.View("chain050")
	if mid["/files/f010"] == "" || mid["/files/f050"] == "" || mid["/files/f051"] != "" {
		t.Errorf("chain050 view wrong: f010=%q f050=%q f051=%q", mid["/files/f010"], mid["/files/f050"], mid["/files/f051"])
	}
	if got := e.View("chain-rw")["/files/rw"]; got == "" {
		t.Error("write to the top of the chain lost")
	}
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("working directory changed from %s to %s", cwd, now)
	}
}
