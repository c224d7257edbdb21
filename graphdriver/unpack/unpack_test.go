package unpack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/go-archive"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/graphdriver/graphtest"
)

func requireFast(t *testing.T) {
	t.Helper()
	if !Available() {
		t.Skip("openat2 is not available")
	}
}

func mkdir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "layer")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// reference applies tars in order with go-archive, as the drivers did.
func reference(t *testing.T, dst string, format Format, tars ...[]byte) int64 {
	t.Helper()
	var size int64
	for _, b := range tars {
		var err error
		var n int64
		if format == Overlay {
			err = archive.Unpack(bytes.NewReader(b), dst, &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat})
		} else {
			n, err = archive.UnpackLayer(dst, bytes.NewReader(b), &archive.TarOptions{})
		}
		if err != nil {
			t.Fatalf("go-archive: %v", err)
		}
		size += n
	}
	return size
}

func fast(t *testing.T, dst string, format Format, tars ...[]byte) int64 {
	t.Helper()
	var size int64
	for _, b := range tars {
		n, err := Apply(dst, bytes.NewReader(b), format)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		size += n
	}
	return size
}

// extra describes what graphtest.Tree leaves out: directory mtimes and
// every xattr.
func extra(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, dir)
		desc := ""
		if de.IsDir() && rel != "" {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			// Implied directories get the time of extraction.
			if fi.ModTime().Before(time.Now().Add(-time.Hour)) {
				desc += fmt.Sprintf("mtime=%d ", fi.ModTime().UnixNano())
			}
		}
		buf := make([]byte, 4096)
		n, err := unix.Llistxattr(p, buf)
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return err
		}
		for _, name := range strings.Split(string(buf[:max(n, 0)]), "\x00") {
			if name == "" || strings.HasPrefix(name, "security.") {
				continue
			}
			v := make([]byte, 4096)
			m, err := unix.Lgetxattr(p, name, v)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf("%s=%q ", name, v[:m])
		}
		if desc != "" {
			out[rel] = desc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compare applies tars with both extractors and fails on any difference.
func compare(t *testing.T, format Format, tars ...[]byte) (want, got string) {
	t.Helper()
	requireFast(t)
	want, got = mkdir(t), mkdir(t)
	wantSize := reference(t, want, format, tars...)
	gotSize := fast(t, got, format, tars...)
	if format == Deletions && wantSize != gotSize {
		t.Errorf("size: go-archive %d, Apply %d", wantSize, gotSize)
	}
	if d := graphtest.DiffTrees(graphtest.Tree(t, want), graphtest.Tree(t, got)); len(d) > 0 {
		t.Errorf("trees differ:\n%s", strings.Join(d, "\n"))
	}
	if d := graphtest.DiffTrees(extra(t, want), extra(t, got)); len(d) > 0 {
		t.Errorf("dir mtimes / xattrs differ:\n%s", strings.Join(d, "\n"))
	}
	return want, got
}

func devices(t *testing.T) []graphtest.Entry {
	if os.Geteuid() != 0 {
		return nil
	}
	return []graphtest.Entry{
		graphtest.Dir("dev/"),
		{Name: "dev/null2", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
		{Name: "dev/loop-x", Type: tar.TypeBlock, Major: 7, Minor: 200, Mode: 0o660, GID: 6},
		{Name: "dev/fifo", Type: tar.TypeFifo, Mode: 0o600, ModTime: time.Unix(1234567, 890)},
	}
}

func TestEntryTypes(t *testing.T) {
	entries := append(graphtest.BaseEntries(), devices(t)...)
	entries = append(entries,
		graphtest.Entry{Name: "setgid-dir/", Type: tar.TypeDir, Mode: 0o2775, UID: 5, GID: 6, ModTime: time.Unix(1e9, 5)},
		graphtest.Entry{Name: "setgid-dir/sticky/", Type: tar.TypeDir, Mode: 0o1777},
		graphtest.Entry{Name: "/abs/file", Body: "abs", Mode: 0o640, UID: 7, GID: 8, ModTime: time.Unix(1e9, 123)},
		graphtest.Entry{Name: "sym-owned", Type: tar.TypeSymlink, Linkname: "/nowhere", UID: 3, GID: 4},
		graphtest.Hardlink("abs-hard", "/etc/conf"),
		graphtest.Hardlink("hard-to-symlink", "abs-symlink"),
		graphtest.Entry{Name: "dirx/", Type: tar.TypeDir, Xattrs: map[string]string{"user.d": "dir"}},
		graphtest.Entry{Name: "old", Body: "x", ModTime: time.Unix(-5, 0)},
	)
	compare(t, Deletions, graphtest.Tar(t, entries...))
	compare(t, Overlay, graphtest.Tar(t, entries...))
}

func TestMixedTar(t *testing.T) {
	var buf bytes.Buffer
	if _, err := graphtest.WriteMixedTar(&buf, 24<<20, 7); err != nil {
		t.Fatal(err)
	}
	compare(t, Deletions, buf.Bytes())
	compare(t, Overlay, buf.Bytes())
}

func TestManyDirsEvictCache(t *testing.T) {
	var entries []graphtest.Entry
	for i := range 300 {
		entries = append(entries, graphtest.Dir(fmt.Sprintf("d%d/", i)))
	}
	for round := range 3 {
		for i := range 300 {
			entries = append(entries, graphtest.File(fmt.Sprintf("d%d/x/f%d", (i*7)%300, round), "y"))
		}
	}
	compare(t, Deletions, graphtest.Tar(t, entries...))
}

func TestReplace(t *testing.T) {
	tr := graphtest.Tar(t,
		graphtest.Dir("a/"), graphtest.File("a/f", "f"),
		graphtest.Dir("b/"),
		graphtest.Symlink("a", "b"), // replaces the (cached) directory a
		graphtest.File("a/g", "through the symlink"),
		graphtest.File("c", "file"),
		graphtest.Dir("c/"), // dir over file
		graphtest.File("c/in", "in"),
		graphtest.Dir("d/"), graphtest.File("d/x", "x"),
		graphtest.File("d", "file over dir"),
		graphtest.File("e", "one"),
		graphtest.File("e", "two, longer"),
		graphtest.Symlink("s", "/b"),
		graphtest.Hardlink("s", "c/in"),                                                  // link over symlink
		graphtest.Dir("m/"), graphtest.Entry{Name: "m/", Type: tar.TypeDir, Mode: 0o700}, // merge
	)
	compare(t, Deletions, tr)
	_, got := compare(t, Overlay, tr)
	if b, err := os.ReadFile(filepath.Join(got, "b/g")); err != nil || string(b) != "through the symlink" {
		t.Errorf("b/g: %q, %v", b, err)
	}
}

func TestWhiteoutsDeletions(t *testing.T) {
	base := graphtest.Tar(t, graphtest.BaseEntries()...)
	child := graphtest.Tar(t, append(graphtest.ChildEntries(),
		graphtest.Whiteout("bin"),
		graphtest.Whiteout("nonexistent"),
		graphtest.Whiteout("newdir/missing"), // implies newdir
		graphtest.File("implied/deep/new", "n"),
		graphtest.Opaque("implied"),
		graphtest.Opaque("."),
	)...)
	_, got := compare(t, Deletions, base, child)
	// Opaque "." keeps only what the child wrote, not the implied
	// directory "implied" (nor implied/deep/new in it).
	for _, p := range []string{"gone", "bin", "dir/a", "dir/sub", "keep", "etc/secret", "implied", "newdir"} {
		if _, err := os.Lstat(filepath.Join(got, p)); err == nil {
			t.Errorf("%s survived", p)
		}
	}
	for _, p := range []string{"dir/c", "new", "etc/conf"} {
		if _, err := os.Lstat(filepath.Join(got, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

func TestWhiteoutsOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("trusted.* xattrs need root")
	}
	child := graphtest.Tar(t, append(graphtest.ChildEntries(),
		graphtest.Entry{Name: "owned/.wh.x", UID: 3, GID: 4},
		graphtest.Opaque("implied2"),
	)...)
	_, got := compare(t, Overlay, child)
	for _, p := range []string{"gone", "owned/x"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(got, p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s is not a 0:0 character device: %o %d", p, st.Mode, st.Rdev)
		}
	}
	for _, d := range []string{"dir", "implied2"} {
		v := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(got, d), "trusted.overlay.opaque", v)
		if err != nil || string(v[:n]) != "y" {
			t.Errorf("%s: opaque xattr %q, %v", d, v[:max(n, 0)], err)
		}
	}
	for _, p := range []string{".wh.gone", "dir/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(got, p)); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}

// TestEscapes: nothing outside the root changes, whatever the tar.
func TestEscapes(t *testing.T) {
	requireFast(t)
	up := strings.Repeat("../", 30)
	cases := []struct {
		name     string
		entries  func(outside string) []graphtest.Entry
		mustFail bool
	}{
		{"dotdot", func(o string) []graphtest.Entry { return []graphtest.Entry{graphtest.File(up+o+"/evil", "x")} }, true},
		{"dotdot-mid", func(string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Dir("a/"), graphtest.File("a/../../evil", "x")}
		}, true},
		{"absolute", func(o string) []graphtest.Entry { return []graphtest.Entry{graphtest.File(o+"/evil", "x")} }, false},
		{"symlink-abs", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("l", o), graphtest.File("l/evil", "x")}
		}, false},
		{"symlink-rel", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("l", up+o), graphtest.File("l/evil", "x")}
		}, false},
		{"symlink-existing-inside", func(o string) []graphtest.Entry {
			return []graphtest.Entry{
				graphtest.File(o+"/sentinel", "inside"), // makes the path exist inside the root
				graphtest.Symlink("l", up+o), graphtest.File("l/sentinel", "pwned"),
				graphtest.Symlink("l2", o), graphtest.Dir("l2/evil/"),
				graphtest.Symlink("l3", "l2"), graphtest.Hardlink("l3/evil-hard", "l/sentinel"),
				graphtest.Symlink("l4", "l3"), graphtest.Whiteout("l4/sentinel"),
				graphtest.Entry{Name: "l/evil-x", Body: "x", Xattrs: map[string]string{"user.evil": "x"}},
			}
		}, false},
		{"symlink-file", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("f", o+"/sentinel"), graphtest.File("f", "pwned")}
		}, false},
		{"symlink-file-dev", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("f", o+"/sentinel"), {Name: "f", Type: tar.TypeFifo}}
		}, false},
		{"hardlink-dotdot", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Hardlink("evil", up+o+"/sentinel")}
		}, true},
		{"hardlink-via-symlink-dotdot", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("l", up+o), graphtest.Hardlink("evil", "l/sentinel")}
		}, true},
		{"whiteout-dotdot", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Whiteout(up + o + "/sentinel")}
		}, true},
		{"whiteout-via-symlink", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("l", o), graphtest.Whiteout("l/sentinel")}
		}, false},
		{"opaque-via-symlink", func(o string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Symlink("l", o), graphtest.Opaque("l")}
		}, false},
		{"whiteout-dots", func(string) []graphtest.Entry {
			return []graphtest.Entry{graphtest.Dir("sub/"), graphtest.File("sub/.wh..", ""), graphtest.File("sub/.wh...", "")}
		}, true},
	}
	for _, tc := range cases {
		for _, format := range []Format{Deletions, Overlay} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, format), func(t *testing.T) {
				base := t.TempDir()
				outside := filepath.Join(base, "outside")
				layer := filepath.Join(base, "layer")
				for _, d := range []string{outside, layer} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := Apply(layer, bytes.NewReader(graphtest.Tar(t, tc.entries(outside)...)), format)
				t.Logf("Apply: %v", err)
				if tc.mustFail && err == nil {
					t.Error("Apply succeeded")
				}
				ents, rerr := os.ReadDir(outside)
				if rerr != nil || len(ents) != 1 {
					t.Fatalf("outside changed: %v %v", ents, rerr)
				}
				if b, err := os.ReadFile(filepath.Join(outside, "sentinel")); err != nil || string(b) != "safe" {
					t.Errorf("sentinel: %q %v", b, err)
				}
				v := make([]byte, 16)
				if _, err := unix.Lgetxattr(filepath.Join(outside, "sentinel"), "user.evil", v); err == nil {
					t.Error("xattr set outside")
				}
				var st syscall.Stat_t
				if err := syscall.Stat(filepath.Join(outside, "sentinel"), &st); err == nil && st.Nlink != 1 {
					t.Error("sentinel was hard linked")
				}
				if _, err := os.Stat(filepath.Join(base, "evil")); err == nil {
					t.Error("evil written next to the layer")
				}
			})
		}
	}
}

func TestCorrupt(t *testing.T) {
	requireFast(t)
	good := graphtest.Tar(t, graphtest.File("a", strings.Repeat("a", 4096)))
	for name, b := range map[string][]byte{
		"truncated": good[:512+100],
		"garbage":   bytes.Repeat([]byte{0x5a}, 2048),
	} {
		if _, err := Apply(mkdir(t), bytes.NewReader(b), Deletions); err == nil {
			t.Errorf("%s: Apply succeeded", name)
		}
	}
	if _, err := Apply(mkdir(t), bytes.NewReader(graphtest.Tar(t, graphtest.File(".wh..wh.plnk/1", "x"))), Deletions); err == nil {
		t.Error("AUFS link dir: Apply succeeded")
	}
}

func TestFallback(t *testing.T) {
	Available()
	saved := haveOpenat2
	haveOpenat2 = false
	defer func() { haveOpenat2 = saved }()
	tars := [][]byte{graphtest.Tar(t, graphtest.BaseEntries()...), graphtest.Tar(t, graphtest.ChildEntries()...)}
	want, got := mkdir(t), mkdir(t)
	reference(t, want, Deletions, tars...)
	fast(t, got, Deletions, tars...)
	if d := graphtest.DiffTrees(graphtest.Tree(t, want), graphtest.Tree(t, got)); len(d) > 0 {
		t.Errorf("trees differ:\n%s", strings.Join(d, "\n"))
	}
}

// Buffered adds a buffer only to readers that do not say they serve small
// reads from memory (io.ByteReader).
func TestBuffered(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("x"))
	if Buffered(br) != io.Reader(br) {
		t.Error("a bufio.Reader was wrapped again")
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	defer pw.Close()
	if _, ok := Buffered(pr).(*bufio.Reader); !ok {
		t.Error("an unbuffered pipe was not buffered")
	}
}
