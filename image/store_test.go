package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/graphdriver/vfs"
	"github.com/berth-engine/berth/image/layer"
)

type harness struct{ root string }

func newHarness(t testing.TB) *harness { return &harness{root: t.TempDir()} }

func testLog(t testing.TB) *logrus.Entry {
	log := logrus.New()
	log.SetOutput(testWriter{t})
	if _, bench := t.(*testing.B); bench {
		log.SetLevel(logrus.WarnLevel)
	}
	return logrus.NewEntry(log)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// open opens a layer store and an image store on it.
func (h *harness) open(t testing.TB) (*layer.Store, *Store) {
	t.Helper()
	d, err := vfs.New(filepath.Join(h.root, "vfs"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.New(filepath.Join(h.root, "layers"), d, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	is, err := NewStore(filepath.Join(h.root, "images"), ls, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		is.Close()
		ls.Close()
	})
	return ls, is
}

func (h *harness) driverDirs(t testing.TB) int {
	ents, err := os.ReadDir(filepath.Join(h.root, "vfs", "dir"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func oneFileTar(t testing.TB, name, body string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	io.WriteString(tw, body)
	tw.Close()
	return buf.Bytes()
}

// registerChain registers one layer per body and returns the references
// and diff IDs.
func registerChain(t testing.TB, ls *layer.Store, bodies ...string) ([]layer.Layer, []digest.Digest) {
	t.Helper()
	var refs []layer.Layer
	var ids []digest.Digest
	var parent layer.ChainID
	for i, b := range bodies {
		l, err := ls.Register(bytes.NewReader(oneFileTar(t, fmt.Sprintf("f%d", i), b)), parent)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, l)
		ids = append(ids, digest.Digest(l.DiffID()))
		parent = l.ChainID()
	}
	return refs, ids
}

func releaseAll(t testing.TB, ls *layer.Store, refs []layer.Layer) {
	for _, r := range refs {
		if _, err := ls.Release(r); err != nil {
			t.Fatal(err)
		}
	}
}

func mkConfig(t testing.TB, diffIDs []digest.Digest, label string) []byte {
	t.Helper()
	if diffIDs == nil {
		diffIDs = []digest.Digest{}
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-02T03:04:05Z",
		"config": map[string]any{
			"Env":    []string{"PATH=/bin"},
			"Cmd":    []string{"sh"},
			"Labels": map[string]string{"l": label},
		},
		"rootfs":         map[string]any{"type": "layers", "diff_ids": diffIDs},
		"docker_version": "20.10.24",
		"comment":        "test image",
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCreateGetDelete(t *testing.T) {
	h := newHarness(t)
	ls, is := h.open(t)
	refs, diffIDs := registerChain(t, ls, "one", "two")
	cfg := mkConfig(t, diffIDs, "a")

	id, err := is.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := ID(digest.FromBytes(cfg)); id != want {
		t.Fatalf("ID %s, want sha256 of the config %s", id, want)
	}
	if again, err := is.Create(cfg); err != nil || again != id {
		t.Fatalf("second create: %s %v", again, err)
	}
	img, err := is.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.RawJSON(), cfg) {
		t.Error("RawJSON differs from the config")
	}
	if img.ID != id || img.ChainID != refs[1].ChainID() || img.Size != refs[1].Size() {
		t.Errorf("image: ID %s ChainID %s Size %d", img.ID, img.ChainID, img.Size)
	}
	if img.Config.Cmd[0] != "sh" || img.Config.Labels["l"] != "a" || img.OS != "linux" || img.Architecture != "amd64" {
		t.Errorf("parsed config: %+v", img.DockerOCIImage)
	}
	if img.DockerVersion != "20.10.24" || img.Comment != "test image" {
		t.Errorf("legacy fields: %q %q", img.DockerVersion, img.Comment)
	}
	if img.Created == nil || !img.Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Created %v", img.Created)
	}
	if is.Len() != 1 || len(is.List()) != 1 || is.Map()[id] == nil {
		t.Errorf("Len/List/Map disagree")
	}

	// A second image on the same layers.
	id2, err := is.Create(mkConfig(t, diffIDs, "b"))
	if err != nil {
		t.Fatal(err)
	}
	releaseAll(t, ls, refs) // the images hold the chain now

	if rm, err := is.Delete(id); err != nil || len(rm) != 0 {
		t.Fatalf("delete of an image sharing its layers removed %v, %v", rm, err)
	}
	if _, err := is.Get(id); !errors.Is(err, ErrImageNotFound) || !cerrdefs.IsNotFound(err) {
		t.Errorf("Get deleted: %v", err)
	}
	if _, err := is.Delete(id); !cerrdefs.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	rm, err := is.Delete(id2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm) != 2 {
		t.Errorf("last delete removed %v, want both layers", rm)
	}
	if n := h.driverDirs(t); n != 0 {
		t.Errorf("%d driver dirs left", n)
	}
}

func TestCreateInvalid(t *testing.T) {
	ls, is := newHarness(t).open(t)
	refs, diffIDs := registerChain(t, ls, "one")
	defer releaseAll(t, ls, refs)
	for name, cfg := range map[string]string{
		"not json":       `{"rootfs":`,
		"array":          `[]`,
		"null":           `null`,
		"no rootfs":      `{"os":"linux"}`,
		"wrong type":     `{"rootfs":{"type":"tarballs","diff_ids":[]}}`,
		"bad diff id":    `{"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}}`,
		"non-hex digest": `{"rootfs":{"type":"layers","diff_ids":["nope"]}}`,
	} {
		if _, err := is.Create([]byte(cfg)); !errors.Is(err, ErrInvalidConfig) || !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	missing := append(diffIDs, digest.FromString("not registered"))
	_, err := is.Create(mkConfig(t, missing, "x"))
	if !errors.Is(err, ErrLayersMissing) {
		t.Errorf("missing layers: %v", err)
	}
	// No layers at all is a valid (scratch) image.
	id, err := is.Create(mkConfig(t, nil, "scratch"))
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := is.Get(id); img.ChainID != "" || img.Size != 0 {
		t.Errorf("scratch image: %+v", img)
	}
	if is.Len() != 1 {
		t.Errorf("Len %d", is.Len())
	}
}

func TestSearch(t *testing.T) {
	ls, is := newHarness(t).open(t)
	refs, diffIDs := registerChain(t, ls, "one")
	defer releaseAll(t, ls, refs)
	// 17 images: two of them share a first hex digit.
	byFirst := map[byte][]ID{}
	var ids []ID
	for i := range 17 {
		id, err := is.Create(mkConfig(t, diffIDs, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		hex := id.Digest().Encoded()
		byFirst[hex[0]] = append(byFirst[hex[0]], id)
	}
	id := ids[0]
	hex := id.Digest().Encoded()
	for _, term := range []string{string(id), hex, hex[:12], "sha256:" + hex[:12]} {
		if got, err := is.Search(term); err != nil || got != id {
			t.Errorf("Search(%q) = %s, %v", term, got, err)
		}
	}
	for c, group := range byFirst {
		if len(group) > 1 {
			if _, err := is.Search(string(c)); !errors.Is(err, ErrAmbiguousPrefix) {
				t.Errorf("Search(%q) over %d images: %v, want ambiguous", c, len(group), err)
			}
			break
		}
	}
	for _, term := range []string{"", "sha256:", "zz", "busybox", strings.Repeat("f", 65), "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"} {
		if _, err := is.Search(term); !errors.Is(err, ErrImageNotFound) {
			t.Errorf("Search(%q): %v, want not found", term, err)
		}
	}
}

func TestParentsAndMetadataPersist(t *testing.T) {
	h := newHarness(t)
	ls, is := h.open(t)
	refs, diffIDs := registerChain(t, ls, "one", "two")
	base, err := is.Create(mkConfig(t, diffIDs[:1], "base"))
	if err != nil {
		t.Fatal(err)
	}
	child, err := is.Create(mkConfig(t, diffIDs, "child"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := is.Create(mkConfig(t, diffIDs, "other"))
	if err != nil {
		t.Fatal(err)
	}
	releaseAll(t, ls, refs)
	if err := is.SetParent(child, base); err != nil {
		t.Fatal(err)
	}
	if err := is.SetParent(other, base); err != nil {
		t.Fatal(err)
	}
	if err := is.SetParent(child, "sha256:0000000000000000000000000000000000000000000000000000000000000000"); !cerrdefs.IsNotFound(err) {
		t.Errorf("SetParent to a missing image: %v", err)
	}
	if err := is.SetParent(child, child); err == nil {
		t.Errorf("an image became its own parent")
	}
	tagged := time.Date(2025, 5, 6, 7, 8, 9, 123, time.UTC)
	if err := is.SetLastUpdated(child, tagged); err != nil {
		t.Fatal(err)
	}
	if p, _ := is.GetParent(child); p != base {
		t.Errorf("GetParent %s", p)
	}
	if c := is.Children(base); len(c) != 2 {
		t.Errorf("Children %v", c)
	}
	is.Close()
	ls.Close()

	ls, is = h.open(t)
	if rm, err := ls.GC(); err != nil || len(rm) != 0 {
		t.Fatalf("GC after restart removed %v, %v", rm, err)
	}
	img, err := is.Get(child)
	if err != nil {
		t.Fatal(err)
	}
	if img.Parent != base || !img.LastUpdated.Equal(tagged) {
		t.Errorf("after restart: parent %s lastUpdated %v", img.Parent, img.LastUpdated)
	}
	if img.Size != refs[1].Size() {
		t.Errorf("size after restart %d", img.Size)
	}
	if c := is.Children(base); len(c) != 2 {
		t.Errorf("Children after restart %v", c)
	}

	// Deleting the parent unlinks the children, durably.
	if _, err := is.Delete(base); err != nil {
		t.Fatal(err)
	}
	if p, _ := is.GetParent(child); p != "" {
		t.Errorf("child still linked to deleted parent: %s", p)
	}
	is.Close()
	ls.Close()
	ls, is = h.open(t)
	if p, _ := is.GetParent(other); p != "" {
		t.Errorf("link to deleted parent came back: %s", p)
	}
	if is.Len() != 2 {
		t.Errorf("Len %d after restart", is.Len())
	}
	if _, err := is.Delete(child); err != nil {
		t.Fatal(err)
	}
	if rm, err := is.Delete(other); err != nil || len(rm) != 2 {
		t.Errorf("last delete removed %v %v", rm, err)
	}
	_ = ls
}

// An image whose layers are gone at start is skipped but kept in the db;
// a corrupt record is deleted.
func TestLoadSkipsAndDrops(t *testing.T) {
	h := newHarness(t)
	ls, is := h.open(t)
	refs, diffIDs := registerChain(t, ls, "one")
	id, err := is.Create(mkConfig(t, diffIDs, "x"))
	if err != nil {
		t.Fatal(err)
	}
	releaseAll(t, ls, refs)
	bogus := ID("sha256:0000000000000000000000000000000000000000000000000000000000000000")
	if err := is.commit.Update(putConfig(bogus, mkConfig(t, nil, "mismatch"))); err != nil {
		t.Fatal(err)
	}
	is.Close()
	ls.Close()
	os.RemoveAll(filepath.Join(h.root, "vfs", "dir"))
	os.MkdirAll(filepath.Join(h.root, "vfs", "dir"), 0o700)

	_, is = h.open(t)
	if _, err := is.Get(id); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("image with missing layers loaded: %v", err)
	}
	if _, err := is.Get(bogus); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("corrupt image loaded: %v", err)
	}
	all, err := loadAll(is.db)
	if err != nil {
		t.Fatal(err)
	}
	if all[id] == nil {
		t.Errorf("image with missing layers was deleted from the db")
	}
	if all[bogus] != nil {
		t.Errorf("corrupt record kept")
	}
}

func TestConcurrentCreateDelete(t *testing.T) {
	h := newHarness(t)
	ls, is := h.open(t)
	refs, diffIDs := registerChain(t, ls, "one")
	done := make(chan error)
	for w := range 8 {
		go func() {
			var err error
			for i := range 20 {
				cfg := mkConfig(t, diffIDs, fmt.Sprint(i%5))
				var id ID
				if id, err = is.Create(cfg); err != nil {
					break
				}
				is.List()
				is.Search(id.Digest().Encoded()[:4])
				if w%2 == 0 {
					if _, derr := is.Delete(id); derr != nil && !errors.Is(derr, ErrImageNotFound) {
						err = derr
						break
					}
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	for _, img := range is.List() {
		is.Delete(img.ID)
	}
	if rm, err := ls.Release(refs[0]); err != nil || len(rm) != 1 {
		t.Errorf("layer refcount off after concurrent creates/deletes: removed %v, %v", rm, err)
	}
}
