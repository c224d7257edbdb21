package reference

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/graphdriver/vfs"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/layer"
)

var (
	idA = image.ID("sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806")
	idB = image.ID("sha256:7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80")
)

func testLog(t testing.TB) *logrus.Entry {
	log := logrus.New()
	log.SetOutput(testWriter{t})
	return logrus.NewEntry(log)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func open(t testing.TB, root string) *Store {
	t.Helper()
	s, err := NewStore(root, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func named(t testing.TB, s string) distref.Named {
	t.Helper()
	n, err := distref.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func familiar(refs []distref.Named) []string {
	var out []string
	for _, r := range refs {
		out = append(out, distref.FamiliarString(r))
	}
	return out
}

func TestNormalization(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.AddTag(named(t, "busybox"), idA, false); err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest", "index.docker.io/library/busybox"} {
		if got, err := s.Get(named(t, alias)); err != nil || got != idA {
			t.Errorf("Get(%s) = %s, %v", alias, got, err)
		}
	}
	// Not normalized by the caller: WithName gives a bare "busybox".
	bare, _ := distref.WithName("busybox")
	if got, err := s.Get(bare); err != nil || got != idA {
		t.Errorf("Get(WithName(busybox)) = %s, %v", got, err)
	}
	refs := s.References(idA)
	if len(refs) != 1 || refs[0].String() != "docker.io/library/busybox:latest" || distref.FamiliarString(refs[0]) != "busybox:latest" {
		t.Errorf("References: %v", refs)
	}
	if _, err := s.Get(named(t, "busybox:1.36")); !errors.Is(err, ErrDoesNotExist) || !cerrdefs.IsNotFound(err) {
		t.Errorf("Get of another tag: %v", err)
	}
	if _, err := s.Get(named(t, "quay.io/busybox")); !cerrdefs.IsNotFound(err) {
		t.Errorf("Get of another registry's busybox: %v", err)
	}
}

func TestRetagAndDigests(t *testing.T) {
	s := open(t, t.TempDir())
	tag := named(t, "example.com/app:1.0")
	if err := s.AddTag(tag, idA, false); err != nil {
		t.Fatal(err)
	}
	// Retag to another image moves the tag, without force.
	if err := s.AddTag(tag, idB, false); err != nil {
		t.Fatalf("retag: %v", err)
	}
	if got, _ := s.Get(tag); got != idB {
		t.Errorf("tag points to %s after retag", got)
	}
	if refs := s.References(idA); len(refs) != 0 {
		t.Errorf("old image still has %v", familiar(refs))
	}
	// Adding the same tag again is a no-op.
	if err := s.AddTag(tag, idB, false); err != nil {
		t.Error(err)
	}

	dg := digest.FromString("manifest")
	canon, err := distref.WithDigest(named(t, "example.com/app"), dg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddDigest(canon, idB, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDigest(canon, idB, false); err != nil {
		t.Errorf("same digest again: %v", err)
	}
	if err := s.AddDigest(canon, idA, false); !errors.Is(err, ErrConflict) || !cerrdefs.IsConflict(err) {
		t.Errorf("digest to another image without force: %v, want conflict", err)
	}
	if err := s.AddDigest(canon, idA, true); err != nil {
		t.Errorf("forced digest move: %v", err)
	}
	// A tag with a digest is refused; a name:tag@digest looks up by digest.
	if err := s.AddTag(canon, idA, true); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("AddTag with a digest reference: %v", err)
	}
	both, _ := distref.WithDigest(named(t, "example.com/app:other"), dg)
	if got, err := s.Get(both); err != nil || got != idA {
		t.Errorf("Get(name:tag@digest) = %s, %v", got, err)
	}

	if err := s.AddTag(named(t, "example.com/app:2.0"), idB, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTag(named(t, "example.com/other"), idB, false); err != nil {
		t.Fatal(err)
	}
	assocs := s.ReferencesByName(named(t, "example.com/app:whatever"))
	var got []string
	for _, a := range assocs {
		got = append(got, distref.FamiliarString(a.Ref)+"="+a.ID.Digest().Encoded()[:4])
	}
	want := []string{"example.com/app:1.0=7a92", "example.com/app:2.0=7a92", "example.com/app@" + dg.String() + "=7dca"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ReferencesByName = %v, want %v", got, want)
	}
	if refs := familiar(s.References(idB)); fmt.Sprint(refs) != "[example.com/app:1.0 example.com/app:2.0 example.com/other:latest]" {
		t.Errorf("References(idB) = %v", refs)
	}

	ok, err := s.Delete(named(t, "example.com/other"))
	if !ok || err != nil {
		t.Errorf("Delete: %v %v", ok, err)
	}
	if ok, err := s.Delete(named(t, "example.com/other")); ok || !errors.Is(err, ErrDoesNotExist) {
		t.Errorf("second Delete: %v %v", ok, err)
	}
	if ok, err := s.Delete(canon); !ok || err != nil {
		t.Errorf("Delete digest: %v %v", ok, err)
	}
}

func TestRefusedNames(t *testing.T) {
	s := open(t, t.TempDir())
	hexName := idA.Digest().Encoded()
	withName, err := distref.WithName(hexName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddTag(withName, idA, true); !errors.Is(err, ErrInvalidReference) || !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("ID-like name: %v, want refused", err)
	}
	tagged, _ := distref.WithTag(withName, "v1")
	if err := s.AddTag(tagged, idA, true); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("ID-like name with a tag: %v, want refused", err)
	}
	qualified, _ := distref.WithName("docker.io/library/" + hexName)
	if err := s.AddTag(qualified, idA, true); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("qualified ID-like name: %v, want refused", err)
	}
	if err := s.AddTag(named(t, "sha256"), idA, true); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("tag named after the digest algorithm: %v", err)
	}
	if err := s.AddTag(named(t, "ok"), image.ID("nope"), true); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("invalid image ID: %v", err)
	}
	if len(s.References(idA)) != 0 {
		t.Errorf("refused references were stored")
	}
	// Names that merely contain hex are fine.
	if err := s.AddTag(named(t, "abc123"), idA, false); err != nil {
		t.Error(err)
	}
}

func TestConcurrentTags(t *testing.T) {
	s := open(t, t.TempDir())
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ref := named(t, fmt.Sprintf("app:%d", i%4))
			id := idA
			if i%2 == 1 {
				id = idB
			}
			if err := s.AddTag(ref, id, false); err != nil {
				t.Error(err)
			}
			s.Get(ref)
			s.References(id)
			s.ReferencesByName(ref)
		})
	}
	wg.Wait()
	if n := len(s.References(idA)) + len(s.References(idB)); n != 4 {
		t.Errorf("%d references, want 4", n)
	}
}

// TestRestartAllStores closes and reopens the three stores: layers, images,
// references and the relations between them survive; GC keeps what images
// hold and removes a partial load's leftover.
func TestRestartAllStores(t *testing.T) {
	root := t.TempDir()
	type stores struct {
		ls   *layer.Store
		is   *image.Store
		rs   *Store
		stop func()
	}
	openAll := func() stores {
		d, err := vfs.New(filepath.Join(root, "vfs"))
		if err != nil {
			t.Fatal(err)
		}
		ls, err := layer.New(filepath.Join(root, "image", "vfs", "layerdb"), d, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		is, err := image.NewStore(filepath.Join(root, "image", "vfs", "imagedb"), ls, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := NewStore(filepath.Join(root, "image", "vfs"), testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		return stores{ls, is, rs, func() { rs.Close(); is.Close(); ls.Close() }}
	}

	st := openAll()
	var diffIDs []string
	var parent layer.ChainID
	var held []layer.Layer
	for i := range 2 {
		l, err := st.ls.Register(bytes.NewReader(tarOf(t, fmt.Sprintf("f%d", i))), parent)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		diffIDs = append(diffIDs, fmt.Sprintf("%q", l.DiffID()))
		parent = l.ChainID()
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%s,%s]}}`, diffIDs[0], diffIDs[1]))
	id, err := st.is.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range held {
		st.ls.Release(l)
	}
	if err := st.rs.AddTag(named(t, "app:1"), id, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ls.CreateRWLayer("ctr", parent, layer.RWLayerOptions{}); err != nil {
		t.Fatal(err)
	}
	// A crashed load's leftover: a registered layer nobody took.
	if _, err := st.ls.Register(bytes.NewReader(tarOf(t, "leftover")), ""); err != nil {
		t.Fatal(err)
	}
	st.stop()

	st = openAll()
	defer st.stop()
	rm, err := st.ls.GC()
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 1 {
		t.Errorf("GC removed %v, want the leftover only", rm)
	}
	got, err := st.rs.Get(named(t, "app:1"))
	if err != nil || got != id {
		t.Fatalf("tag after restart: %s %v", got, err)
	}
	img, err := st.is.Get(got)
	if err != nil {
		t.Fatal(err)
	}
	if img.ChainID != parent || !bytes.Equal(img.RawJSON(), cfg) {
		t.Errorf("image after restart: %+v", img)
	}
	rw, err := st.ls.GetRWLayer("ctr")
	if err != nil || rw.Parent().ChainID() != parent {
		t.Fatalf("rw layer after restart: %v", err)
	}
	// Deleting the image keeps the layers the container holds.
	if rm, err := st.is.Delete(id); err != nil || len(rm) != 0 {
		t.Errorf("image delete removed %v, %v while a container holds the layers", rm, err)
	}
	if rm, err := st.ls.ReleaseRWLayer(rw); err != nil || len(rm) != 2 {
		t.Errorf("container removal removed %v, %v", rm, err)
	}
}

func tarOf(t testing.TB, name string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	return buf.Bytes()
}
