package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	cerrdefs "github.com/containerd/errdefs"
)

func TestCreateChainID(t *testing.T) {
	d1 := DiffID("sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce")
	d2 := DiffID("sha256:6e548d763b6ecb963399c965b75ae6eae55aea52f68f2f4e81ec1348c3b2c050")
	d3 := DiffID("sha256:ae321be16429345f29e813732386b32def18a67fc8f328f9a9bc154e0a61f8ae")
	hash := func(s string) ChainID {
		sum := sha256.Sum256([]byte(s))
		return ChainID("sha256:" + hex.EncodeToString(sum[:]))
	}
	c1 := ChainID(d1)
	c2 := hash(string(c1) + " " + string(d2))
	c3 := hash(string(c2) + " " + string(d3))
	for _, tc := range []struct {
		in   []DiffID
		want ChainID
	}{
		{nil, ""},
		{[]DiffID{d1}, c1},
		{[]DiffID{d1, d2}, c2},
		{[]DiffID{d1, d2, d3}, c3},
	} {
		if got := CreateChainID(tc.in); got != tc.want {
			t.Errorf("CreateChainID(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := ChildChainID(c2, d3); got != c3 {
		t.Errorf("ChildChainID = %s, want %s", got, c3)
	}
}

func TestRegisterChain(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)

	var parent ChainID
	var layers []Layer
	var diffIDs []DiffID
	var total int64
	for i, data := range tars {
		l := mustRegister(t, s, data, parent)
		layers = append(layers, l)
		if got, want := l.DiffID().String(), sha(data); got != want {
			t.Errorf("layer %d: DiffID %s, want sha256 of the input %s", i, got, want)
		}
		diffIDs = append(diffIDs, l.DiffID())
		if got, want := l.ChainID(), CreateChainID(diffIDs); got != want {
			t.Errorf("layer %d: ChainID %s, want %s", i, got, want)
		}
		if i == 0 && l.Parent() != nil {
			t.Errorf("base layer has parent %v", l.Parent())
		}
		if i > 0 && (l.Parent() == nil || l.Parent().ChainID() != parent) {
			t.Errorf("layer %d: parent %v, want %s", i, l.Parent(), parent)
		}
		if l.DiffSize() <= 0 {
			t.Errorf("layer %d: DiffSize %d", i, l.DiffSize())
		}
		total += l.DiffSize()
		if l.Size() != total {
			t.Errorf("layer %d: Size %d, want %d", i, l.Size(), total)
		}
		if got := readAll(t, l); !bytes.Equal(got, data) {
			t.Errorf("layer %d: TarStream differs from the registered tar (%d vs %d bytes)", i, len(got), len(data))
		}
		if l.TarSize() != int64(len(data)) {
			t.Errorf("layer %d: TarSize %d, want %d", i, l.TarSize(), len(data))
		}
		parent = l.ChainID()
	}
	if n := len(s.Map()); n != 3 {
		t.Fatalf("Map has %d layers, want 3", n)
	}
	if got := h.driverDirs(t); len(got) != 3 {
		t.Fatalf("driver dirs %v, want 3", got)
	}

	// The whiteout took effect: a container on the top layer sees no a.
	rw, err := s.CreateRWLayer("c1", parent, RWLayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := rw.Mount()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"etc/app/a": false, "etc/app/.wh.a": false, "etc/app/b": true, "etc/app/c": true,
		"srv/www/index.html": true, "data/seed.txt": true, "bin/sh": true,
	} {
		_, err := os.Lstat(filepath.Join(dir, path))
		if (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", path, err == nil, want)
		}
	}
	rw.Unmount()
	if _, err := s.ReleaseRWLayer(rw); err != nil {
		t.Fatal(err)
	}
	for i := len(layers) - 1; i >= 0; i-- {
		if _, err := s.Release(layers[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Map()); n != 0 {
		t.Errorf("%d layers left after releasing everything", n)
	}
	if got := h.driverDirs(t); len(got) != 0 {
		t.Errorf("driver dirs left: %v", got)
	}
	if got := h.tarFiles(t); len(got) != 0 {
		t.Errorf("tar files left: %v", got)
	}
	if got := pendingKeys(t, s); len(got) != 0 {
		t.Errorf("pending left: %v", got)
	}
}

// The DiffID covers the whole stream, including bytes after the tar's end
// marker, and TarStream gives them back.
func TestRegisterTrailingBytes(t *testing.T) {
	s := newHarness(t).open(t)
	data := append(mkTar(t, entry{name: "f", body: "x"}), make([]byte, 10240)...)
	l := mustRegister(t, s, data, "")
	if got, want := l.DiffID().String(), sha(data); got != want {
		t.Errorf("DiffID %s, want %s", got, want)
	}
	if got := readAll(t, l); !bytes.Equal(got, data) {
		t.Errorf("TarStream: %d bytes, want %d", len(got), len(data))
	}
}

// lazyDiff is a diff that opts out of early writeback, as a pull's does.
type lazyDiff struct{ io.Reader }

func (lazyDiff) EarlyWriteback() bool { return false }

func TestRegisterWithoutEarlyWriteback(t *testing.T) {
	if !earlyWriteback(bytes.NewReader(nil)) || earlyWriteback(lazyDiff{}) {
		t.Fatal("earlyWriteback: the default is on, a diff's EarlyWriteback turns it off")
	}
	s := newHarness(t).open(t)
	big := strings.Repeat("b", 2*writebackMinSize)
	data := mkTar(t, entry{name: "big", body: big}, entry{name: "small", body: "s"})
	l, err := s.Register(lazyDiff{bytes.NewReader(data)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.DiffID().String(), sha(data); got != want {
		t.Errorf("DiffID %s, want %s", got, want)
	}
	if got := readAll(t, l); !bytes.Equal(got, data) {
		t.Errorf("TarStream: %d bytes, want %d", len(got), len(data))
	}
}

func TestRegisterIdempotent(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	data := chainTars(t)[0]
	a := mustRegister(t, s, data, "")
	b := mustRegister(t, s, data, "")
	if a.ChainID() != b.ChainID() {
		t.Fatalf("chain IDs differ: %s %s", a.ChainID(), b.ChainID())
	}
	if got := h.driverDirs(t); len(got) != 1 {
		t.Errorf("driver dirs %v, want 1", got)
	}
	if got := h.tarFiles(t); len(got) != 1 {
		t.Errorf("tar files %v, want 1", got)
	}
	if rm, err := s.Release(a); err != nil || len(rm) != 0 {
		t.Fatalf("first release removed %v, %v; want nothing", rm, err)
	}
	if _, err := s.Get(a.ChainID()); err != nil {
		t.Fatalf("layer gone while referenced: %v", err)
	}
}

func TestRefcountAndRelease(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)
	l1 := mustRegister(t, s, tars[0], "")
	l2 := mustRegister(t, s, tars[1], l1.ChainID())
	g2, err := s.Get(l2.ChainID())
	if err != nil {
		t.Fatal(err)
	}

	if rm, err := s.Release(l1); err != nil || len(rm) != 0 {
		t.Fatalf("releasing the base (held by its child) removed %v, %v", rm, err)
	}
	if _, err := s.Release(l1); !errors.Is(err, ErrNotReferenced) {
		t.Errorf("double release: %v, want ErrNotReferenced", err)
	}
	if _, err := s.Release(s.Map()[l2.ChainID()]); !errors.Is(err, ErrNotReferenced) {
		t.Errorf("releasing a Map view: %v, want ErrNotReferenced", err)
	}
	if _, err := s.Release(l2.Parent()); !errors.Is(err, ErrNotReferenced) {
		t.Errorf("releasing a Parent view: %v, want ErrNotReferenced", err)
	}
	if rm, err := s.Release(l2); err != nil || len(rm) != 0 {
		t.Fatalf("release with a Get outstanding removed %v, %v", rm, err)
	}
	rm, err := s.Release(g2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 2 || rm[0].ChainID != l2.ChainID() || rm[1].ChainID != l1.ChainID() {
		t.Fatalf("last release removed %+v, want l2 then l1", rm)
	}
	_, err = s.Get(l1.ChainID())
	if !errors.Is(err, ErrLayerNotFound) || !cerrdefs.IsNotFound(err) {
		t.Errorf("Get of removed layer: %v, want not found", err)
	}
	if got := h.driverDirs(t); len(got) != 0 {
		t.Errorf("driver dirs left: %v", got)
	}
	if _, err := s.Register(bytes.NewReader(tars[1]), "sha256:0000000000000000000000000000000000000000000000000000000000000000"); !cerrdefs.IsNotFound(err) {
		t.Errorf("register on a missing parent: %v, want not found", err)
	}
}

func TestRestartAndGC(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)
	var chain []Layer
	var parent ChainID
	for _, data := range tars {
		l := mustRegister(t, s, data, parent)
		chain = append(chain, l)
		parent = l.ChainID()
	}
	other := mustRegister(t, s, mkTar(t, entry{name: "leftover", body: "partial load"}), "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart nobody holds anything until the image store
	// acquires; here "the image store" holds the top of the chain.
	s = h.open(t)
	if n := len(s.Map()); n != 4 {
		t.Fatalf("after restart: %d layers, want 4", n)
	}
	top, err := s.Get(parent)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range chain {
		got := s.Map()[l.ChainID()]
		if got == nil || got.DiffID() != l.DiffID() || got.Size() != l.Size() || got.DiffSize() != l.DiffSize() {
			t.Fatalf("layer %d after restart: %+v", i, got)
		}
		if !bytes.Equal(readAll(t, got), tars[i]) {
			t.Errorf("layer %d: TarStream after restart differs", i)
		}
	}
	rm, err := s.GC()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 1 || rm[0].ChainID != other.ChainID() {
		t.Fatalf("GC removed %+v, want only the leftover", rm)
	}
	if got := h.driverDirs(t); len(got) != 3 {
		t.Errorf("driver dirs after GC %v, want 3", got)
	}
	if _, err := s.Release(top); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Map()); n != 0 {
		t.Errorf("%d layers left", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart with nothing acquired: GC collects the whole chain.
	h2 := newHarness(t)
	s = h2.open(t)
	parent = ""
	for _, data := range tars {
		parent = mustRegister(t, s, data, parent).ChainID()
	}
	s.Close()
	s = h2.open(t)
	rm, err = s.GC()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 3 || rm[0].ChainID != parent {
		t.Fatalf("GC removed %+v, want the chain top first", rm)
	}
	if got := h2.driverDirs(t); len(got) != 0 {
		t.Errorf("driver dirs left: %v", got)
	}
	if got := h2.tarFiles(t); len(got) != 0 {
		t.Errorf("tar files left: %v", got)
	}
}

func TestFailedApplyLeavesNothing(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	base := mustRegister(t, s, chainTars(t)[0], "")
	data := mkTar(t, entry{name: "big", body: string(bytes.Repeat([]byte("z"), 100000))}, entry{name: "after", body: "x"})

	check := func(name string) {
		t.Helper()
		if n := len(s.Map()); n != 1 {
			t.Errorf("%s: %d layers, want only the base", name, n)
		}
		if got := h.driverDirs(t); len(got) != 1 {
			t.Errorf("%s: driver dirs %v, want only the base's", name, got)
		}
		if got := h.tarFiles(t); len(got) != 1 {
			t.Errorf("%s: tar files %v, want only the base's", name, got)
		}
		if got := pendingKeys(t, s); len(got) != 0 {
			t.Errorf("%s: pending %v", name, got)
		}
	}

	_, err := s.Register(bytes.NewReader(data[:len(data)/2]), base.ChainID())
	if !errors.Is(err, ErrInvalidDiff) || !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("truncated tar: %v, want ErrInvalidDiff", err)
	}
	check("truncated")

	boom := errors.New("connection reset")
	_, err = s.Register(io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(boom)), base.ChainID())
	if !errors.Is(err, boom) {
		t.Errorf("failing source: %v, want the source's error", err)
	}
	check("failing source")

	for name, in := range map[string][]byte{
		"short garbage": []byte("this is not a tar archive"),
		"long garbage":  bytes.Repeat([]byte("garbage!"), 200),
		"gzip":          {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3},
		"path breakout": mkTar(t, entry{name: "../evil", body: "x"}),
	} {
		_, err = s.Register(bytes.NewReader(in), "")
		if !errors.Is(err, ErrInvalidDiff) || !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want ErrInvalidDiff", name, err)
		}
		check(name)
	}

	// The base is still held once, and intact.
	if rm, err := s.Release(base); err != nil || len(rm) != 1 {
		t.Errorf("release base: %v %v", rm, err)
	}
}

// A crash between the driver's work and the record's commit (or during a
// removal) leaves driver layers that New removes.
func TestCrashLeftoversRemovedAtStart(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	kept := mustRegister(t, s, chainTars(t)[0], "")

	// An interrupted register: pending announced, driver layer created,
	// diff file half written, no record.
	id := randomID()
	if err := s.commit.Update(addPending(id)); err != nil {
		t.Fatal(err)
	}
	if err := s.driver.Create(id, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.tarPath(tarName(id)), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An interrupted removal: record deleted, driver layer still there.
	gone := mustRegister(t, s, chainTars(t)[1], kept.ChainID())
	gl := gone.(*layerRef).roLayer
	if err := s.commit.Update(uncommitLayer(gl.chainID, gl.cacheID, "")); err != nil {
		t.Fatal(err)
	}
	// A stray file in tars/.
	os.WriteFile(s.tarPath("stray"+tarSuffix), nil, 0o600)
	if got := h.driverDirs(t); len(got) != 3 {
		t.Fatalf("driver dirs before restart: %v", got)
	}
	s.Close()

	s = h.open(t)
	if got := h.driverDirs(t); len(got) != 1 || got[0] != kept.(*layerRef).cacheID {
		t.Errorf("driver dirs after restart: %v, want only %s", got, kept.(*layerRef).cacheID)
	}
	if got := h.tarFiles(t); len(got) != 1 {
		t.Errorf("tar files after restart: %v", got)
	}
	if got := pendingKeys(t, s); len(got) != 0 {
		t.Errorf("pending after restart: %v", got)
	}
	if m := s.Map(); len(m) != 1 || m[kept.ChainID()] == nil {
		t.Errorf("layers after restart: %v", m)
	}
}

// A record whose driver layer is gone (say, the data root was restored
// partially) is dropped with its children.
func TestMissingDriverLayerDropped(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)
	l1 := mustRegister(t, s, tars[0], "")
	l2 := mustRegister(t, s, tars[1], l1.ChainID())
	mustRegister(t, s, tars[2], l2.ChainID())
	s.Close()
	os.RemoveAll(filepath.Join(h.vfsRoot(), "dir", l2.(*layerRef).cacheID))
	s = h.open(t)
	if m := s.Map(); len(m) != 1 || m[l1.ChainID()] == nil {
		t.Fatalf("layers: %v, want only the base", m)
	}
	if got := h.driverDirs(t); len(got) != 1 {
		t.Errorf("driver dirs: %v", got)
	}
	if got := h.tarFiles(t); len(got) != 1 {
		t.Errorf("tar files: %v", got)
	}
}

func TestTarStreamDetectsCorruption(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	l := mustRegister(t, s, chainTars(t)[0], "")
	dir := filepath.Join(h.vfsRoot(), "dir", l.(*layerRef).cacheID)
	read := func() error {
		t.Helper()
		rc, err := l.TarStream()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}

	// A file of the layer changed in place, same size.
	if err := os.WriteFile(filepath.Join(dir, "etc/app/a"), []byte("One\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := read(); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("reading a layer whose file changed: %v, want ErrDigestMismatch", err)
	}
	// Shorter, gone, replaced by something else than a file.
	for name, change := range map[string]func(string) error{
		"truncated": func(p string) error { return os.WriteFile(p, []byte("o"), 0o644) },
		"removed":   os.Remove,
		"replaced":  func(p string) error { os.Remove(p); return os.Mkdir(p, 0o755) },
	} {
		if err := change(filepath.Join(dir, "etc/app/b")); err != nil {
			t.Fatal(err)
		}
		if err := read(); !errors.Is(err, ErrDigestMismatch) {
			t.Errorf("%s: %v, want ErrDigestMismatch", name, err)
		}
		os.RemoveAll(filepath.Join(dir, "etc/app/b"))
		os.WriteFile(filepath.Join(dir, "etc/app/b"), []byte("two\n"), 0o644)
	}
	// The metadata replaced by another layer's.
	other := mustRegister(t, s, chainTars(t)[1], "")
	src, _ := os.ReadFile(s.tarPath(other.(*layerRef).tar))
	os.WriteFile(s.tarPath(l.(*layerRef).tar), src, 0o600)
	if err := read(); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("reading a layer with another's metadata: %v, want ErrDigestMismatch", err)
	}
}

func TestConcurrentRegisterAndRelease(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)
	base := mustRegister(t, s, tars[0], "")
	const n = 8
	var wg sync.WaitGroup
	got := make([]Layer, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = s.Register(bytes.NewReader(tars[1]), base.ChainID())
			if errs[i] == nil {
				// Churn references on the same layer meanwhile.
				g, err := s.Get(got[i].ChainID())
				if err == nil {
					s.Release(g)
				}
				s.Map()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i].ChainID() != got[0].ChainID() {
			t.Fatalf("chain IDs differ")
		}
	}
	if dirs := h.driverDirs(t); len(dirs) != 2 {
		t.Errorf("driver dirs %v, want 2", dirs)
	}
	for i := range n {
		if _, err := s.Release(got[i]); err != nil {
			t.Fatal(err)
		}
	}
	rm, err := s.Release(base)
	if err != nil || len(rm) != 1 {
		t.Errorf("final release: %v %v", rm, err)
	}
	if dirs := h.driverDirs(t); len(dirs) != 0 {
		t.Errorf("driver dirs left %v", dirs)
	}
}

// Parallel registration of distinct layers, with removals racing.
func TestConcurrentDistinct(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			data := mkTar(t, entry{name: fmt.Sprintf("f%d", i%4), body: "same"})
			l, err := s.Register(bytes.NewReader(data), "")
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := s.Release(l); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(s.Map()); n != 0 {
		t.Errorf("%d layers left", n)
	}
	if dirs := h.driverDirs(t); len(dirs) != 0 {
		t.Errorf("driver dirs left %v", dirs)
	}
	if files := h.tarFiles(t); len(files) != 0 {
		t.Errorf("tar files left %v", files)
	}
	if p := pendingKeys(t, s); len(p) != 0 {
		t.Errorf("pending left %v", p)
	}
}
