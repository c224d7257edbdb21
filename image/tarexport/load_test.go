package tarexport

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image/platform"
)

// assertNothingLeft checks a failed load left the store as it found it, empty.
func assertNothingLeft(t *testing.T, s *fakeStore) {
	t.Helper()
	if n := s.heldRefs(); n != 0 {
		t.Errorf("%d layer references still held", n)
	}
	if n := s.layerCount(); n != 0 {
		t.Errorf("%d layers left", n)
	}
	if n := s.imageCount(); n != 0 {
		t.Errorf("%d images left", n)
	}
	if tags := s.tagList(); len(tags) != 0 {
		t.Errorf("tags left: %v", tags)
	}
}

func assertInvalid(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: loaded", what)
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("%s: error %q (%T) is not an invalid argument", what, err, err)
	}
}

func messages(progress []Progress) []string {
	var out []string
	for _, p := range progress {
		if p.Message != "" {
			out = append(out, p.Message)
		}
	}
	return out
}

// layerProgress returns, by layer ID, the last progress report of each layer read.
func layerProgress(t *testing.T, progress []Progress) map[string]Progress {
	t.Helper()
	out := map[string]Progress{}
	for _, p := range progress {
		if p.Message != "" {
			continue
		}
		if p.Action != ActionLoadingLayer || len(p.ID) != 12 || p.Total <= 0 || p.Current > p.Total {
			t.Errorf("bad layer progress %+v", p)
		}
		if prev, ok := out[p.ID]; ok && p.Current < prev.Current {
			t.Errorf("progress of %s went back: %d after %d", p.ID, p.Current, prev.Current)
		}
		out[p.ID] = p
	}
	return out
}

func configOf(t *testing.T, s *fakeStore, id string) map[string]any {
	t.Helper()
	b, err := s.ImageConfig(digest.Digest(id))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadBusyboxDockerSave(t *testing.T) {
	s := newFakeStore()
	loaded, progress, err := load(t, s, fixture(t, "busybox-docker-save.tar"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []LoadedImage{{ID: busyboxID, Tags: []string{"busybox:latest"}}}
	if !reflect.DeepEqual(loaded, want) {
		t.Fatalf("loaded %+v, want %+v", loaded, want)
	}
	if _, err := s.GetLayer(busyboxDiffID); err != nil {
		t.Fatalf("layer %s: %v", busyboxDiffID, err)
	}
	if id, err := s.ResolveImage("busybox"); err != nil || id != busyboxID {
		t.Fatalf("busybox is %s (%v)", id, err)
	}
	if got := messages(progress); !reflect.DeepEqual(got, []string{"Loaded image: busybox:latest"}) {
		t.Errorf("messages %q", got)
	}
	lp := layerProgress(t, progress)
	p, ok := lp["12ebd3379473"]
	if len(lp) != 1 || !ok || p.Current != p.Total || p.Total != 2007040 {
		t.Errorf("layer progress %+v", lp)
	}
}

func TestLoadLayered(t *testing.T) {
	for _, tc := range []struct {
		fixture, id string
	}{
		{"layered-docker-save.tar", layeredID},
		{"layered-oci.tar", layeredOCIID},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			s := newFakeStore()
			loaded, progress, err := load(t, s, fixture(t, tc.fixture), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := []LoadedImage{{ID: digest.Digest(tc.id), Tags: []string{"fixture/layered:1.0"}}}
			if !reflect.DeepEqual(loaded, want) {
				t.Fatalf("loaded %+v, want %+v", loaded, want)
			}
			if got := messages(progress); !reflect.DeepEqual(got, []string{"Loaded image: fixture/layered:1.0"}) {
				t.Errorf("messages %q", got)
			}
			if lp := layerProgress(t, progress); len(lp) != 3 {
				t.Errorf("progress for %d layers, want 3", len(lp))
			}
			if s.layerCount() != 3 || s.heldRefs() != 0 {
				t.Errorf("%d layers, %d references held", s.layerCount(), s.heldRefs())
			}
			var parent digest.Digest
			for _, d := range layeredDiffIDs {
				parent = ChainID(parent, digest.Digest(d))
				if _, err := s.GetLayer(parent); err != nil {
					t.Errorf("layer %s: %v", d, err)
				}
			}
			c := configOf(t, s, tc.id)
			rootfs := c["rootfs"].(map[string]any)
			if got := fmt.Sprint(rootfs["diff_ids"]); got != fmt.Sprint(layeredDiffIDs) {
				t.Errorf("diff IDs %s", got)
			}
			if n := len(c["history"].([]any)); n != 9 {
				t.Errorf("%d history entries, want 9", n)
			}
			cfg := c["config"].(map[string]any)
			for k, want := range map[string]string{
				"Env":          "[PATH=/usr/local/bin:/bin GREETING=hello]",
				"WorkingDir":   "/srv/www",
				"Volumes":      "map[/data:map[]]",
				"ExposedPorts": "map[80/tcp:map[]]",
				"Labels":       "map[org.example.fixture:layered]",
				"Cmd":          "[httpd -f -p 80 -h /srv/www]",
			} {
				if got := fmt.Sprint(cfg[k]); got != want {
					t.Errorf("config %s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestLoadReusesLayers(t *testing.T) {
	s := newFakeStore()
	if _, _, err := load(t, s, fixture(t, "busybox-docker-save.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	loaded, progress, err := load(t, s, fixture(t, "layered-docker-save.tar"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != layeredID {
		t.Fatalf("loaded %+v", loaded)
	}
	// The busybox layer was in the store: it is not read again.
	lp := layerProgress(t, progress)
	if _, ok := lp["12ebd3379473"]; ok || len(lp) != 2 || s.reads != 3 {
		t.Errorf("layers read: %v, %d in all", lp, s.reads)
	}
	if got := s.tagList(); !reflect.DeepEqual(got, []string{"busybox:latest", "fixture/layered:1.0"}) {
		t.Errorf("tags %v", got)
	}
	// The OCI form of the same image reuses all three.
	loaded, _, err = load(t, s, fixture(t, "layered-oci.tar"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if loaded[0].ID != layeredOCIID || s.reads != 3 || s.layerCount() != 3 || s.heldRefs() != 0 {
		t.Errorf("loaded %v; %d reads, %d layers, %d refs held", loaded, s.reads, s.layerCount(), s.heldRefs())
	}
}

func TestLoadRetagMessage(t *testing.T) {
	s := newFakeStore()
	if _, _, err := load(t, s, fixture(t, "layered-docker-save.tar"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	_, progress, err := load(t, s, fixture(t, "layered-oci.tar"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"The image fixture/layered:1.0 already exists, renaming the old one with ID " + layeredID + " to empty string",
		"Loaded image: fixture/layered:1.0",
	}
	if got := messages(progress); !reflect.DeepEqual(got, want) {
		t.Errorf("messages %q", got)
	}
	if id, _ := s.ResolveImage("fixture/layered:1.0"); id != layeredOCIID {
		t.Errorf("tag on %s", id)
	}
}

func TestLoadCompressedArchive(t *testing.T) {
	archive := fixture(t, "busybox-docker-save.tar")
	for name, b := range map[string][]byte{"gzip": gzipBytes(t, archive), "zstd": zstdBytes(t, archive)} {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			loaded, _, err := load(t, s, b, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded) != 1 || loaded[0].ID != busyboxID {
				t.Fatalf("loaded %+v", loaded)
			}
			// Truncated, it fails.
			s = newFakeStore()
			_, _, err = load(t, s, b[:len(b)-8], LoadOptions{})
			assertInvalid(t, err, "truncated")
			assertNothingLeft(t, s)
		})
	}
}

// dataEnd returns where the data of the last entry of a tar ends.
func dataEnd(t *testing.T, archive []byte) int {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(archive)}
	tr := tar.NewReader(cr)
	end := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return end
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			t.Fatal(err)
		}
		end = int(cr.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestLoadTruncated(t *testing.T) {
	for _, name := range []string{"busybox-docker-save.tar", "layered-docker-save.tar", "layered-oci.tar"} {
		t.Run(name, func(t *testing.T) {
			archive := fixture(t, name)
			end := dataEnd(t, archive)
			offsets := []int{0, 1, 100, 511, 512, 1024, 1536, end / 4, end / 3, end / 2, 2 * end / 3, 3 * end / 4, end - 513, end - 512, end - 100, end - 1}
			// Every entry boundary too.
			for off := 512; off < end; off += 512 {
				if off%(64<<10) == 0 || off > end-4096 {
					offsets = append(offsets, off)
				}
			}
			for _, off := range offsets {
				s := newFakeStore()
				_, _, err := load(t, s, archive[:off], LoadOptions{})
				assertInvalid(t, err, fmt.Sprintf("cut at %d of %d", off, len(archive)))
				assertNothingLeft(t, s)
			}
			// Past the data, in the end-of-archive blocks, it loads.
			s := newFakeStore()
			if _, _, err := load(t, s, archive[:(end+511)/512*512+1024], LoadOptions{}); err != nil {
				t.Errorf("cut after the end-of-archive marker: %v", err)
			}
		})
	}
}

// flipIn flips a byte in the middle of the data of the named entry of a tar.
func flipIn(t *testing.T, archive []byte, entry string) []byte {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(archive)}
	tr := tar.NewReader(cr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no %s in the archive: %v", entry, err)
		}
		if hdr.Name == entry {
			out := bytes.Clone(archive)
			out[cr.n+hdr.Size/2] ^= 0x55
			return out
		}
	}
}

func TestLoadCorruptLayer(t *testing.T) {
	for _, tc := range []struct {
		fixture, entry string
	}{
		{"busybox-docker-save.tar", "86e2774b1a615e61fff394e7e946878849f738c1c74d4998f5fe5d1b8c093780/layer.tar"},
		// The top layer of three: the first two register, then must go.
		{"layered-docker-save.tar", "ef72ffd57437fd75fae6248ff31f9bffb21ce4cd2c10c3519cde1dd3cb2cd8db/layer.tar"},
		{"layered-docker-save.tar", "3c7a3ad6a3fc06bc38f3a2cdd1c92335c587a2546f1eac42d326c6056bacf3ed/layer.tar"},
		// A gzip layer: corrupt deflate data, or a bad digest.
		{"layered-oci.tar", "blobs/sha256/ae2ee03fe058c4bd5f15dc7747a4a6233c83dd32ba33d3287b19878e74ba2221"},
	} {
		t.Run(tc.entry[:12], func(t *testing.T) {
			archive := flipIn(t, fixture(t, tc.fixture), tc.entry)
			s := newFakeStore()
			_, _, err := load(t, s, archive, LoadOptions{})
			assertInvalid(t, err, "corrupt layer")
			assertNothingLeft(t, s)
			t.Log(err)
		})
	}
}

// rewriteConfig changes the layered docker-save archive's config and gives it its new name.
func rewriteConfig(t *testing.T, archive []byte, edit func(map[string]any)) []byte {
	t.Helper()
	entries := readTar(t, archive)
	var configName string
	var manifest []map[string]any
	for _, e := range entries {
		if e.hdr.Name == "manifest.json" {
			if err := json.Unmarshal(e.data, &manifest); err != nil {
				t.Fatal(err)
			}
			configName = manifest[0]["Config"].(string)
		}
	}
	for i, e := range entries {
		if e.hdr.Name == configName {
			var c map[string]any
			if err := json.Unmarshal(e.data, &c); err != nil {
				t.Fatal(err)
			}
			edit(c)
			b, _ := json.Marshal(c)
			entries[i] = file(digest.FromBytes(b).Encoded()+".json", b)
			manifest[0]["Config"] = entries[i].hdr.Name
		}
	}
	for i, e := range entries {
		if e.hdr.Name == "manifest.json" {
			b, _ := json.Marshal(manifest)
			entries[i] = file("manifest.json", b)
		}
	}
	return writeTar(t, entries)
}

func TestLoadWrongDiffID(t *testing.T) {
	archive := fixture(t, "layered-docker-save.tar")
	for i := range 3 {
		bad := rewriteConfig(t, archive, func(c map[string]any) {
			c["rootfs"].(map[string]any)["diff_ids"].([]any)[i] = digest.FromString("something else").String()
		})
		s := newFakeStore()
		_, _, err := load(t, s, bad, LoadOptions{})
		assertInvalid(t, err, fmt.Sprintf("wrong diff ID %d", i))
		if !strings.Contains(err.Error(), "diff ID") {
			t.Errorf("error %q", err)
		}
		assertNothingLeft(t, s)
	}
	// Fewer diff IDs than layers.
	bad := rewriteConfig(t, archive, func(c map[string]any) {
		r := c["rootfs"].(map[string]any)
		r["diff_ids"] = r["diff_ids"].([]any)[:2]
	})
	s := newFakeStore()
	_, _, err := load(t, s, bad, LoadOptions{})
	assertInvalid(t, err, "layer count")
	assertNothingLeft(t, s)
}

func TestLoadBadMetadata(t *testing.T) {
	docker := fixture(t, "layered-docker-save.tar")
	oci := fixture(t, "layered-oci.tar")
	edit := func(archive []byte, name string, f func(e *tarEntry) bool) []byte {
		var out []tarEntry
		for _, e := range readTar(t, archive) {
			if e.hdr.Name == name && !f(&e) {
				continue
			}
			out = append(out, e)
		}
		return writeTar(t, out)
	}
	drop := func(*tarEntry) bool { return false }
	replace := func(data string) func(*tarEntry) bool {
		return func(e *tarEntry) bool { e.data = []byte(data); return true }
	}
	cases := map[string][]byte{
		"no manifest.json":      edit(docker, "manifest.json", drop),
		"manifest.json garbage": edit(docker, "manifest.json", replace("{not json")),
		"manifest.json null":    edit(docker, "manifest.json", replace("null")),
		"missing layer":         edit(docker, "3cad83b35f8be895cc529bcf3be6c675be2710d027c7a5881279bc900978f773/layer.tar", drop),
		"missing config":        edit(docker, "7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80.json", drop),
		"config not its name":   edit(docker, "7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80.json", func(e *tarEntry) bool { e.data = append(e.data, ' '); return true }),
		"traversal":             edit(docker, "manifest.json", replace(`[{"Config":"../../etc/passwd","Layers":[]}]`)),
		"bad tag": edit(docker, "manifest.json", func(e *tarEntry) bool {
			e.data = bytes.Replace(e.data, []byte("fixture/layered:1.0"), []byte("Fixture/UPPER:1.0"), 1)
			return true
		}),
		"missing blob":        edit(oci, "blobs/sha256/88e872c3aa3b3999f247e44616ed52abc49b112ed1d0f302514987f6ff153c1d", drop),
		"missing manifest":    edit(oci, "blobs/sha256/e1750cdabdd0ca51792101189803de1b83018f348eaeadc8c13e3319a087dbb2", drop),
		"index.json garbage":  edit(oci, "index.json", replace("[")),
		"blob not its digest": edit(oci, "blobs/sha256/c9867afb8f2e3ad080316bfae99f753997bc522aa995959664a080bf174beedf", func(e *tarEntry) bool { e.data[len(e.data)-2] = ' '; return true }),
		"empty":               {},
		"not a tar":           bytes.Repeat([]byte("berth"), 1000),
	}
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			_, _, err := load(t, s, archive, LoadOptions{})
			assertInvalid(t, err, name)
			assertNothingLeft(t, s)
			t.Log(err)
		})
	}
}

func TestLoadUnsafePaths(t *testing.T) {
	layer := layerTar(t, map[string]string{"etc/hostname": "x\n"})
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(layer).String() + `"]}}`)
	good := []tarEntry{
		file("l/layer.tar", layer),
		file(digest.FromBytes(config).Encoded()+".json", config),
		file("manifest.json", []byte(`[{"Config":"`+digest.FromBytes(config).Encoded()+`.json","RepoTags":["x:y"],"Layers":["l/layer.tar"]}]`)),
	}
	s := newFakeStore()
	if loaded, _, err := load(t, s, writeTar(t, good), LoadOptions{}); err != nil || len(loaded) != 1 {
		t.Fatalf("the good archive: %v %v", loaded, err)
	}
	for name, extra := range map[string]tarEntry{
		"dotdot":         file("../escape", []byte("x")),
		"symlink out":    {hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l/layer.tar", Linkname: "/etc/passwd"}},
		"symlink up":     {hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l/layer.tar", Linkname: "../../../../etc/passwd"}},
		"hardlink out":   {hdr: tar.Header{Typeflag: tar.TypeLink, Name: "l/layer.tar", Linkname: "../etc/passwd"}},
		"write via link": {hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "/tmp"}},
		"dir over file":  {hdr: tar.Header{Typeflag: tar.TypeDir, Name: "manifest.json/"}},
	} {
		t.Run(name, func(t *testing.T) {
			entries := append([]tarEntry{extra}, good...)
			if name != "dotdot" && name != "write via link" {
				entries = append(good[:len(good):len(good)], extra) // replace the layer with the link
			}
			s := newFakeStore()
			_, _, err := load(t, s, writeTar(t, entries), LoadOptions{})
			assertInvalid(t, err, name)
			assertNothingLeft(t, s)
			t.Log(err)
		})
	}
}

func TestLoadSymlinkedLayers(t *testing.T) {
	// Docker before 25 writes a layer shared by two images once, and a symlink to it.
	base := layerTar(t, map[string]string{"a": "1"})
	top := layerTar(t, map[string]string{"b": "2"})
	mk := func(diffIDs ...[]byte) []byte {
		var ids []string
		for _, d := range diffIDs {
			ids = append(ids, `"`+digest.FromBytes(d).String()+`"`)
		}
		return []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[` + strings.Join(ids, ",") + `]}}`)
	}
	c1, c2 := mk(base), mk(base, top)
	n1, n2 := digest.FromBytes(c1).Encoded()+".json", digest.FromBytes(c2).Encoded()+".json"
	archive := writeTar(t, []tarEntry{
		file("aaa/layer.tar", base),
		{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "bbb/layer.tar", Linkname: "../aaa/layer.tar"}},
		file("ccc/layer.tar", top),
		file(n1, c1),
		file(n2, c2),
		file("manifest.json", []byte(`[{"Config":"`+n1+`","RepoTags":["one:1"],"Layers":["aaa/layer.tar"]},`+
			`{"Config":"`+n2+`","RepoTags":["two:2","two:latest"],"Layers":["bbb/layer.tar","ccc/layer.tar"]}]`)),
	})
	s := newFakeStore()
	loaded, progress, err := load(t, s, archive, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || !reflect.DeepEqual(loaded[1].Tags, []string{"two:2", "two:latest"}) {
		t.Fatalf("loaded %+v", loaded)
	}
	if s.reads != 2 || len(layerProgress(t, progress)) != 2 {
		t.Errorf("%d layers read", s.reads)
	}
	if s.heldRefs() != 0 || s.layerCount() != 2 {
		t.Errorf("%d refs held, %d layers", s.heldRefs(), s.layerCount())
	}
}

func TestLoadWindowsImage(t *testing.T) {
	config := []byte(`{"architecture":"amd64","os":"windows","rootfs":{"type":"layers","diff_ids":[]}}`)
	name := digest.FromBytes(config).Encoded() + ".json"
	archive := writeTar(t, []tarEntry{file(name, config), file("manifest.json", []byte(`[{"Config":"`+name+`","Layers":[]}]`))})
	_, _, err := load(t, newFakeStore(), archive, LoadOptions{})
	assertInvalid(t, err, "windows image")
}

// ociArchive builds an OCI layout archive. images are, per platform, layer blobs (compressed or
// not) and their diff IDs; if nested, index.json points to an image index of them.
type ociImage struct {
	platform ocispec.Platform
	layers   [][]byte // blobs
	diffIDs  []digest.Digest
}

func ociArchive(t *testing.T, images []ociImage, nested bool, annotations map[string]string) ([]byte, []digest.Digest) {
	t.Helper()
	var entries []tarEntry
	addBlob := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		entries = append(entries, file("blobs/sha256/"+d.Encoded(), b))
		return d
	}
	var descs []ocispec.Descriptor
	var ids []digest.Digest
	for _, img := range images {
		config, _ := json.Marshal(map[string]any{
			"architecture": img.platform.Architecture, "os": img.platform.OS, "variant": img.platform.Variant,
			"rootfs": map[string]any{"type": "layers", "diff_ids": img.diffIDs},
		})
		ids = append(ids, addBlob(config))
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}}
		for _, l := range img.layers {
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: addBlob(l), Size: int64(len(l))})
		}
		mb, _ := json.Marshal(m)
		p := img.platform
		descs = append(descs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: addBlob(mb), Size: int64(len(mb)), Platform: &p})
	}
	if nested {
		ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs})
		descs = []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageIndex, Digest: addBlob(ib), Size: int64(len(ib))}}
	}
	for i := range descs {
		descs[i].Annotations = annotations
	}
	ib, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, Manifests: descs})
	entries = append(entries, file("index.json", ib), file("oci-layout", []byte(ociLayoutContent)))
	return writeTar(t, entries), ids
}

func TestLoadOCIIndexPicksPlatform(t *testing.T) {
	native := platform.Default()
	other := ocispec.Platform{OS: "linux", Architecture: "s390x"}
	if native.Architecture == "s390x" {
		other.Architecture = "ppc64le"
	}
	l1 := layerTar(t, map[string]string{"native": "yes"})
	l2 := layerTar(t, map[string]string{"other": "yes"})
	images := []ociImage{
		{platform: other, layers: [][]byte{gzipBytes(t, l2)}, diffIDs: []digest.Digest{digest.FromBytes(l2)}},
		{platform: native, layers: [][]byte{zstdBytes(t, l1)}, diffIDs: []digest.Digest{digest.FromBytes(l1)}},
	}
	archive, ids := ociArchive(t, images, true, map[string]string{ocispec.AnnotationRefName: "example.com/multi:v1"})

	s := newFakeStore()
	loaded, _, err := load(t, s, archive, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != ids[1] || !reflect.DeepEqual(loaded[0].Tags, []string{"example.com/multi:v1"}) {
		t.Fatalf("loaded %+v, want %s", loaded, ids[1])
	}
	// Asked for the other platform, it loads that one.
	s = newFakeStore()
	loaded, _, err = load(t, s, archive, LoadOptions{Platform: &other})
	if err != nil || len(loaded) != 1 || loaded[0].ID != ids[0] {
		t.Fatalf("loaded %+v (%v), want %s", loaded, err, ids[0])
	}
	// A platform it lacks.
	s = newFakeStore()
	_, _, err = load(t, s, archive, LoadOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "mips64"}})
	if !errdefs.IsNotFound(err) {
		t.Fatalf("err %v", err)
	}
	assertNothingLeft(t, s)
}

func TestLoadOCIAnnotations(t *testing.T) {
	l := layerTar(t, map[string]string{"f": "x"})
	img := []ociImage{{platform: platform.Default(), layers: [][]byte{l}, diffIDs: []digest.Digest{digest.FromBytes(l)}}}
	for _, tc := range []struct {
		annotations map[string]string
		tags        []string
	}{
		{map[string]string{ocispec.AnnotationRefName: "latest"}, nil}, // a bare tag names nothing
		{map[string]string{ocispec.AnnotationRefName: "fixture/x:2"}, []string{"fixture/x:2"}},
		{map[string]string{ocispec.AnnotationRefName: "2", annotationImageName: "docker.io/library/busybox:2"}, []string{"busybox:2"}},
		{map[string]string{annotationImageName: "registry.example:5000/a/b"}, []string{"registry.example:5000/a/b:latest"}},
		{nil, nil},
	} {
		archive, ids := ociArchive(t, img, false, tc.annotations)
		s := newFakeStore()
		loaded, progress, err := load(t, s, archive, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(loaded) != 1 || !reflect.DeepEqual(loaded[0].Tags, tc.tags) {
			t.Errorf("%v: loaded %+v", tc.annotations, loaded)
		}
		if tc.tags == nil && !reflect.DeepEqual(messages(progress), []string{"Loaded image ID: " + ids[0].String()}) {
			t.Errorf("messages %q", messages(progress))
		}
	}
}

func TestLoadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newFakeStore()
	_, err := Load(ctx, bytes.NewReader(fixture(t, "busybox-docker-save.tar")), s, LoadOptions{TempDir: t.TempDir()})
	if err != context.Canceled {
		t.Fatalf("err %v", err)
	}
	assertNothingLeft(t, s)
}

func TestLoadOSCheck(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux images")
	}
	s := newFakeStore()
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	if platform.Default().Architecture == "arm64" {
		arm.Architecture = "amd64"
	}
	// The docker-save busybox is amd64: with another platform asked for, nothing loads.
	loaded, _, err := load(t, s, fixture(t, "busybox-docker-save.tar"), LoadOptions{Platform: &arm})
	if err != nil || len(loaded) != 0 || s.layerCount() != 0 {
		t.Fatalf("loaded %v (%v)", loaded, err)
	}
}
