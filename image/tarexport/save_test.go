package tarexport

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func save(t *testing.T, store Store, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Save(context.Background(), &buf, store, names, SaveOptions{TempDir: t.TempDir()}); err != nil {
		t.Fatalf("save %v: %v", names, err)
	}
	return buf.Bytes()
}

// loadedStore is a store with the busybox and layered fixtures loaded.
func loadedStore(t *testing.T) *fakeStore {
	t.Helper()
	s := newFakeStore()
	for _, f := range []string{"busybox-docker-save.tar", "layered-docker-save.tar"} {
		if _, _, err := load(t, s, fixture(t, f), LoadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func withoutEntries(t *testing.T, archive []byte, names ...string) []byte {
	t.Helper()
	var out []tarEntry
	for _, e := range readTar(t, archive) {
		if !slices.Contains(names, e.hdr.Name) {
			out = append(out, e)
		}
	}
	return writeTar(t, out)
}

func TestSaveLayout(t *testing.T) {
	s := loadedStore(t)
	archive := save(t, s, "fixture/layered:1.0", "busybox:latest")

	entries := readTar(t, archive)
	var names []string
	files := map[string][]byte{}
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		files[e.hdr.Name] = e.data
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) || e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" {
			t.Errorf("%s: mtime %v, owner %d:%d %q", e.hdr.Name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname)
		}
		if strings.HasPrefix(e.hdr.Name, "blobs/sha256/") && e.hdr.Typeflag == tar.TypeReg {
			if d := digest.FromBytes(e.data); d.Encoded() != strings.TrimPrefix(e.hdr.Name, "blobs/sha256/") {
				t.Errorf("blob %s has digest %s", e.hdr.Name, d)
			}
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	// 3 layers (busybox's is shared), 2 configs, 2 manifests.
	if len(names) != 2+7+4 || names[0] != "blobs/" || names[1] != "blobs/sha256/" {
		t.Errorf("entries %v", names)
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion": "1.0.0"}` {
		t.Errorf("oci-layout %s", files["oci-layout"])
	}
	if got := string(files["repositories"]); got != `{"busybox":{"latest":"12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce"},"fixture/layered":{"1.0":"ae321be16429345f29e813732386b32def18a67fc8f328f9a9bc154e0a61f8ae"}}`+"\n" {
		t.Errorf("repositories %s", got)
	}
	var manifest []manifestItem
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	wantManifest := []manifestItem{
		{Config: "blobs/sha256/" + digest.Digest(layeredID).Encoded(), RepoTags: []string{"fixture/layered:1.0"}, Layers: []string{
			"blobs/sha256/" + digest.Digest(layeredDiffIDs[0]).Encoded(),
			"blobs/sha256/" + digest.Digest(layeredDiffIDs[1]).Encoded(),
			"blobs/sha256/" + digest.Digest(layeredDiffIDs[2]).Encoded(),
		}},
		{Config: "blobs/sha256/" + digest.Digest(busyboxID).Encoded(), RepoTags: []string{"busybox:latest"}, Layers: []string{
			"blobs/sha256/" + digest.Digest(busyboxDiffID).Encoded(),
		}},
	}
	if !reflect.DeepEqual(manifest, wantManifest) {
		t.Errorf("manifest.json %s", files["manifest.json"])
	}
	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 || index.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("index.json %s", files["index.json"])
	}
	for i, want := range []map[string]string{
		{annotationImageName: "docker.io/fixture/layered:1.0", ocispec.AnnotationRefName: "1.0"},
		{annotationImageName: "docker.io/library/busybox:latest", ocispec.AnnotationRefName: "latest"},
	} {
		d := index.Manifests[i]
		if !reflect.DeepEqual(d.Annotations, want) || d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != "amd64" {
			t.Errorf("index entry %d: %+v", i, d)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(files["blobs/sha256/"+d.Digest.Encoded()], &m); err != nil {
			t.Fatal(err)
		}
		if m.Config.Digest.String() != []string{layeredID, busyboxID}[i] || len(m.Layers) != []int{3, 1}[i] {
			t.Errorf("manifest %d: %+v", i, m)
		}
		for _, l := range m.Layers {
			if l.MediaType != ocispec.MediaTypeImageLayer || int64(len(files["blobs/sha256/"+l.Digest.Encoded()])) != l.Size {
				t.Errorf("layer descriptor %+v", l)
			}
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	a := loadedStore(t)
	first := save(t, a, "fixture/layered:1.0", "busybox:latest")

	// With a LayerSizer, the layers stream straight through: the same bytes.
	if got := save(t, sizedStore{a}, "fixture/layered:1.0", "busybox:latest"); !bytes.Equal(got, first) {
		t.Error("saving with a LayerSizer gives other bytes")
	}

	wantLoaded := []LoadedImage{
		{ID: layeredID, Tags: []string{"fixture/layered:1.0"}},
		{ID: busyboxID, Tags: []string{"busybox:latest"}},
	}
	for name, archive := range map[string][]byte{
		"combined":         first,
		"manifest.json":    withoutEntries(t, first, "index.json", "oci-layout"),
		"OCI (index.json)": withoutEntries(t, first, "manifest.json", "repositories"),
	} {
		t.Run(name, func(t *testing.T) {
			b := newFakeStore()
			loaded, _, err := load(t, b, archive, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(loaded, wantLoaded) {
				t.Fatalf("loaded %+v", loaded)
			}
			if !reflect.DeepEqual(b.tagList(), a.tagList()) || b.layerCount() != 3 || b.heldRefs() != 0 {
				t.Errorf("tags %v, %d layers, %d refs held", b.tagList(), b.layerCount(), b.heldRefs())
			}
			second := save(t, b, "fixture/layered:1.0", "busybox:latest")
			if !bytes.Equal(first, second) {
				t.Errorf("the second save differs from the first")
			}
		})
	}
}

func TestSaveOCIFixtureRoundTrip(t *testing.T) {
	a := newFakeStore()
	if _, _, err := load(t, a, fixture(t, "layered-oci.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	first := save(t, a, "fixture/layered:1.0")
	b := newFakeStore()
	loaded, _, err := load(t, b, first, LoadOptions{})
	if err != nil || len(loaded) != 1 || loaded[0].ID != layeredOCIID {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}
	if !bytes.Equal(first, save(t, b, "fixture/layered:1.0")) {
		t.Error("the second save differs")
	}
}

func TestSaveByIDAndName(t *testing.T) {
	s := loadedStore(t)
	other, _ := reference.ParseNormalizedNamed("busybox:other")
	if err := s.Tag(other.(reference.NamedTagged), busyboxID); err != nil {
		t.Fatal(err)
	}

	// By ID (short here): no tags anywhere.
	archive := save(t, s, digest.Digest(busyboxID).Encoded()[:12])
	files := map[string][]byte{}
	for _, e := range readTar(t, archive) {
		files[e.hdr.Name] = e.data
	}
	if _, ok := files["repositories"]; ok {
		t.Error("repositories written for an untagged save")
	}
	if !bytes.Contains(files["manifest.json"], []byte(`"RepoTags":null`)) {
		t.Errorf("manifest.json %s", files["manifest.json"])
	}
	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 || index.Manifests[0].Annotations != nil {
		t.Errorf("index.json %s", files["index.json"])
	}
	b := newFakeStore()
	loaded, progress, err := load(t, b, archive, LoadOptions{})
	if err != nil || !reflect.DeepEqual(loaded, []LoadedImage{{ID: busyboxID}}) {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}
	if got := messages(progress); !reflect.DeepEqual(got, []string{"Loaded image ID: " + busyboxID}) {
		t.Errorf("messages %q", got)
	}

	// By the full ID, with and without sha256:, and with a tag too: one image, one tag.
	archive = save(t, s, busyboxID, digest.Digest(busyboxID).Encoded(), "busybox:latest")
	b = newFakeStore()
	loaded, _, err = load(t, b, archive, LoadOptions{})
	if err != nil || !reflect.DeepEqual(loaded, []LoadedImage{{ID: busyboxID, Tags: []string{"busybox:latest"}}}) {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}

	// By repository name: all its tags.
	archive = save(t, s, "busybox")
	b = newFakeStore()
	loaded, _, err = load(t, b, archive, LoadOptions{})
	if err != nil || !reflect.DeepEqual(loaded, []LoadedImage{{ID: busyboxID, Tags: []string{"busybox:latest", "busybox:other"}}}) {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}
}

func TestSaveErrors(t *testing.T) {
	s := loadedStore(t)
	var buf bytes.Buffer
	for _, tc := range []struct {
		names []string
		check func(error) bool
	}{
		{nil, errdefs.IsInvalidArgument},
		{[]string{"nosuch:image"}, errdefs.IsNotFound},
		{[]string{"busybox:latest", "nosuch"}, errdefs.IsNotFound},
		{[]string{"Invalid/UPPER"}, errdefs.IsInvalidArgument},
	} {
		buf.Reset()
		err := Save(context.Background(), &buf, s, tc.names, SaveOptions{TempDir: t.TempDir()})
		if err == nil || !tc.check(err) {
			t.Errorf("save %v: %v", tc.names, err)
		}
		if buf.Len() != 0 {
			t.Errorf("save %v wrote %d bytes", tc.names, buf.Len())
		}
	}
	if s.heldRefs() != 0 {
		t.Errorf("%d refs held", s.heldRefs())
	}
}

func TestSaveImageWithoutLayers(t *testing.T) {
	s := newFakeStore()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	id, err := s.CreateImage(config)
	if err != nil {
		t.Fatal(err)
	}
	archive := save(t, s, id.String())
	b := newFakeStore()
	loaded, _, err := load(t, b, archive, LoadOptions{})
	if err != nil || len(loaded) != 1 || loaded[0].ID != id {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}
}
