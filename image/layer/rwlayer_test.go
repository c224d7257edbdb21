package layer

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/vfs"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"
)

func writeInit(root string) error {
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		return err
	}
	for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
		if err := os.WriteFile(filepath.Join(root, "etc", f), []byte(f+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func tarNames(t *testing.T, rc io.ReadCloser) []string {
	t.Helper()
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	sort.Strings(names)
	return names
}

func TestRWLayer(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	tars := chainTars(t)
	l1 := mustRegister(t, s, tars[0], "")
	l2 := mustRegister(t, s, tars[1], l1.ChainID())

	rw, err := s.CreateRWLayer("c1", l2.ChainID(), RWLayerOptions{Init: writeInit})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRWLayer("c1", l2.ChainID(), RWLayerOptions{}); !errors.Is(err, ErrRWLayerExists) || !cerrdefs.IsConflict(err) {
		t.Errorf("duplicate name: %v, want ErrRWLayerExists", err)
	}
	if rw.Name() != "c1" || rw.Parent().ChainID() != l2.ChainID() {
		t.Errorf("rw layer: name %q parent %v", rw.Name(), rw.Parent())
	}
	dir, err := rw.Mount()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"etc/hostname", "etc/app/a", "srv/www/index.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not in the container's view: %v", f, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "srv", "www", "new.txt"), []byte("container write"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "etc", "app", "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReleaseRWLayer(rw); !errors.Is(err, ErrActiveMount) {
		t.Errorf("release while mounted: %v, want ErrActiveMount", err)
	}

	changes, err := rw.Changes()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range changes {
		paths = append(paths, c.Path)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if p == "/etc/hostname" || p == "/etc/hosts" || p == "/etc/resolv.conf" {
			t.Errorf("init file %s reported as a container change: %v", p, paths)
		}
	}
	if !contains(paths, "/srv/www/new.txt") || !contains(paths, "/etc/app/b") {
		t.Errorf("changes %v lack the container's writes", paths)
	}
	rc, err := rw.TarStream()
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, rc)
	if !contains(names, "srv/www/new.txt") || !contains(names, "etc/app/.wh.b") || contains(names, "etc/hostname") {
		t.Errorf("container diff: %v", names)
	}
	if size, err := rw.Size(); err != nil || size != int64(len("container write")) {
		t.Errorf("Size = %d, %v", size, err)
	}

	// Commit: the container's diff becomes a layer on its image.
	rc, _ = rw.TarStream()
	committed, err := s.Register(rc, l2.ChainID())
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if committed.Parent().ChainID() != l2.ChainID() {
		t.Errorf("committed layer's parent %v", committed.Parent())
	}

	if err := rw.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := rw.Unmount(); err != nil {
		t.Errorf("extra unmount: %v", err)
	}

	// The RW layer holds its parent: releasing the image's references
	// keeps l1 and l2 until the RW layer goes.
	s.Release(committed)
	if rm, err := s.Release(l2); err != nil || len(rm) != 0 {
		t.Fatalf("release l2: %v %v", rm, err)
	}
	if rm, err := s.Release(l1); err != nil || len(rm) != 0 {
		t.Fatalf("release l1: %v %v", rm, err)
	}
	s.Close()

	// Restart: the RW layer is still there, with its content and parent.
	s = h.open(t)
	if got := s.RWLayers(); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("RWLayers after restart: %v", got)
	}
	if rm, err := s.GC(); err != nil || len(rm) != 0 {
		t.Fatalf("GC removed %v, %v: the RW layer holds its chain", rm, err)
	}
	rw, err = s.GetRWLayer("c1")
	if err != nil {
		t.Fatal(err)
	}
	dir, err = rw.Mount()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "srv", "www", "new.txt")); err != nil || string(b) != "container write" {
		t.Errorf("container's file after restart: %q %v", b, err)
	}
	rw.Unmount()
	rm, err := s.ReleaseRWLayer(rw)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 2 {
		t.Errorf("ReleaseRWLayer removed %v, want the two image layers nothing else held", rm)
	}
	if _, err := s.GetRWLayer("c1"); !errors.Is(err, ErrRWLayerNotFound) {
		t.Errorf("GetRWLayer after release: %v", err)
	}
	if _, err := s.ReleaseRWLayer(rw); !errors.Is(err, ErrRWLayerNotFound) {
		t.Errorf("second ReleaseRWLayer: %v", err)
	}
	if got := h.driverDirs(t); len(got) != 0 {
		t.Errorf("driver dirs left: %v", got)
	}
	if got := pendingKeys(t, s); len(got) != 0 {
		t.Errorf("pending left: %v", got)
	}
}

func TestRWLayerScratchAndFailingInit(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	rw, err := s.CreateRWLayer("scratch", "", RWLayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rw.Parent() != nil {
		t.Errorf("scratch layer has a parent")
	}
	dir, err := rw.Mount()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644)
	rw.Unmount()
	if names := tarNames(t, must(rw.TarStream())); len(names) != 1 || names[0] != "x" {
		t.Errorf("scratch diff: %v", names)
	}
	if _, err := s.ReleaseRWLayer(rw); err != nil {
		t.Fatal(err)
	}

	base := mustRegister(t, s, chainTars(t)[0], "")
	boom := errors.New("init failed")
	_, err = s.CreateRWLayer("bad", base.ChainID(), RWLayerOptions{Init: func(string) error { return boom }})
	if !errors.Is(err, boom) {
		t.Errorf("failing init: %v", err)
	}
	if got := h.driverDirs(t); len(got) != 1 {
		t.Errorf("driver dirs after failed create: %v, want the base's only", got)
	}
	if got := pendingKeys(t, s); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
	if _, err := s.GetRWLayer("bad"); !errors.Is(err, ErrRWLayerNotFound) {
		t.Errorf("failed layer exists: %v", err)
	}
	// The failed create released its parent reference: one Release
	// removes the base.
	if rm, err := s.Release(base); err != nil || len(rm) != 1 {
		t.Errorf("release base: %v %v", rm, err)
	}
	if _, err := s.CreateRWLayer("orphan", "sha256:0000000000000000000000000000000000000000000000000000000000000000", RWLayerOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("missing parent: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// recordingDriver is vfs with a GetEphemeral that records which layers
// were mounted through it.
type recordingDriver struct {
	graphdriver.Driver
	ephemeral []string
}

func (d *recordingDriver) GetEphemeral(id string) (string, error) {
	d.ephemeral = append(d.ephemeral, id)
	return d.Get(id)
}

// TestRWLayerSharedInit: the read-write layers on a parent share one init
// layer, made by the first create and kept across restarts until the
// parent is removed; a container from scratch, and a layer recorded with
// an init layer of its own (earlier versions), keep theirs.
func TestRWLayerSharedInit(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	base := mustRegister(t, s, chainTars(t)[0], "")
	inits := 0
	countingInit := func(root string) error {
		inits++
		return writeInit(root)
	}
	initOf := func(rw RWLayer) string { return rw.(*rwLayer).rec.InitID }
	a, err := s.CreateRWLayer("a", base.ChainID(), RWLayerOptions{Init: countingInit})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateRWLayer("b", base.ChainID(), RWLayerOptions{Init: countingInit, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	shared := initOf(a)
	if inits != 1 || shared == "" || initOf(b) != shared {
		t.Fatalf("Init ran %d times, init layers %q and %q: want one, shared", inits, shared, initOf(b))
	}
	// A container's writes stay its own.
	dir, err := a.Mount()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("a\n"), 0o644)
	a.Unmount()
	dir, err = b.Mount()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "etc", "hostname")); string(got) != "hostname\n" {
		t.Errorf("b sees etc/hostname %q, want the init layer's", got)
	}
	b.Unmount()
	if _, err := s.ReleaseRWLayer(a); err != nil {
		t.Fatal(err)
	}
	if !s.driver.Exists(shared) {
		t.Fatal("the shared init layer went with the first read-write layer released")
	}

	// An init layer of its own, as earlier versions recorded them.
	legacy := mountRecord{MountID: randomID(), Parent: base.ChainID(), Created: time.Now()}
	legacy.InitID = legacy.MountID + "-init"
	if err := s.makeInit(legacy.InitID, base.(*layerRef).cacheID, writeInit); err != nil {
		t.Fatal(err)
	}
	if err := s.driver.CreateReadWrite(legacy.MountID, legacy.InitID); err != nil {
		t.Fatal(err)
	}
	if err := s.commit.Update(commitMount("legacy", legacy)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// After a restart the next container takes the same init layer.
	s = h.open(t)
	held, err := s.Get(base.ChainID()) // as the image store would
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateRWLayer("c", base.ChainID(), RWLayerOptions{Init: countingInit})
	if err != nil {
		t.Fatal(err)
	}
	if inits != 1 || initOf(c) != shared {
		t.Errorf("after a restart: Init ran %d times, init layer %q, want %q", inits, initOf(c), shared)
	}
	scratch, err := s.CreateRWLayer("scratch", "", RWLayerOptions{Init: countingInit})
	if err != nil {
		t.Fatal(err)
	}
	if want := scratch.(*rwLayer).rec.MountID + "-init"; initOf(scratch) != want {
		t.Errorf("scratch init layer %q, want its own %q", initOf(scratch), want)
	}
	for _, name := range []string{"legacy", "scratch"} {
		rw, err := s.GetRWLayer(name)
		if err != nil {
			t.Fatal(err)
		}
		own := initOf(rw)
		if _, err := s.ReleaseRWLayer(rw); err != nil {
			t.Fatal(err)
		}
		if s.driver.Exists(own) {
			t.Errorf("%s: its own init layer %s stayed", name, own)
		}
	}
	if !s.driver.Exists(shared) {
		t.Fatal("the shared init layer went with a layer of its own")
	}

	// Gone with the parent, once nothing holds it.
	for _, name := range []string{"b", "c"} {
		rw, err := s.GetRWLayer(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReleaseRWLayer(rw); err != nil {
			t.Fatal(err)
		}
	}
	if !s.driver.Exists(shared) {
		t.Fatal("the shared init layer went before its parent")
	}
	if rm, err := s.Release(held); err != nil || len(rm) != 1 {
		t.Fatalf("releasing the parent: %v, %v", rm, err)
	}
	if got := h.driverDirs(t); len(got) != 0 {
		t.Errorf("driver dirs after the parent's removal: %v, want none", got)
	}
	if got := pendingKeys(t, s); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
	snap, err := loadSnapshot(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.inits) != 0 {
		t.Errorf("init records left: %v", snap.inits)
	}
}

// TestRWLayerSharedInitLost: an init layer the driver lost is forgotten at
// start, and the next container makes a new one.
func TestRWLayerSharedInitLost(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	base := mustRegister(t, s, chainTars(t)[0], "")
	rw, err := s.CreateRWLayer("a", base.ChainID(), RWLayerOptions{Init: writeInit})
	if err != nil {
		t.Fatal(err)
	}
	lost := rw.(*rwLayer).rec.InitID
	if _, err := s.ReleaseRWLayer(rw); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.RemoveAll(filepath.Join(h.vfsRoot(), "dir", lost)); err != nil {
		t.Fatal(err)
	}
	s = h.open(t)
	rw, err = s.CreateRWLayer("b", base.ChainID(), RWLayerOptions{Init: writeInit})
	if err != nil {
		t.Fatal(err)
	}
	if id := rw.(*rwLayer).rec.InitID; id == lost || !s.driver.Exists(id) {
		t.Errorf("init layer after the loss: %q (lost %q)", id, lost)
	}
	dir, err := rw.Mount()
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Unmount()
	if _, err := os.Stat(filepath.Join(dir, "etc", "hosts")); err != nil {
		t.Error(err)
	}
}

// TestRWLayerEphemeral: the init layer is always mounted ephemeral for its
// init; a read-write layer is when created Ephemeral, also after a restart.
func TestRWLayerEphemeral(t *testing.T) {
	h := newHarness(t)
	open := func() (*Store, *recordingDriver) {
		v, err := vfs.New(h.vfsRoot())
		if err != nil {
			t.Fatal(err)
		}
		d := &recordingDriver{Driver: v}
		s, err := New(h.layerRoot(), d, logrus.NewEntry(logrus.New()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, d
	}
	s, d := open()
	base := mustRegister(t, s, chainTars(t)[0], "")
	rm, err := s.CreateRWLayer("rm", base.ChainID(), RWLayerOptions{Init: writeInit, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.CreateRWLayer("kept", base.ChainID(), RWLayerOptions{Init: writeInit})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ephemeral) != 1 || !strings.HasSuffix(d.ephemeral[0], "-init") {
		t.Fatalf("ephemeral mounts at create: %v, want the (shared) init layer", d.ephemeral)
	}
	for _, rw := range []RWLayer{rm, kept} {
		if _, err := rw.Mount(); err != nil {
			t.Fatal(err)
		}
		rw.Unmount()
	}
	if len(d.ephemeral) != 2 {
		t.Fatalf("ephemeral mounts: %v, want rm's read-write layer added", d.ephemeral)
	}
	s.Close()

	s, d = open()
	for _, name := range []string{"rm", "kept"} {
		rw, err := s.GetRWLayer(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rw.Mount(); err != nil {
			t.Fatal(err)
		}
		rw.Unmount()
	}
	if len(d.ephemeral) != 1 {
		t.Errorf("ephemeral mounts after a restart: %v, want rm's alone", d.ephemeral)
	}
}
