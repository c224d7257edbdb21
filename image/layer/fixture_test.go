package layer

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

const fixtureDir = "../../../shared/fixtures"

// readSaveArchive returns the config and layer tars of the single image in
// a legacy `docker save` archive.
func readSaveArchive(t testing.TB, name string) (config []byte, layers [][]byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtureDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("fixture %s not available", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v (%d entries)", err, len(manifest))
	}
	for _, l := range manifest[0].Layers {
		layers = append(layers, files[l])
	}
	return files[manifest[0].Config], layers
}

func TestBusyboxFixture(t *testing.T) {
	_, layers := readSaveArchive(t, "busybox-docker-save.tar")
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
	s := newHarness(t).open(t)
	l := mustRegister(t, s, layers[0], "")
	const want = "sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce"
	if l.DiffID() != want || l.ChainID() != want {
		t.Errorf("DiffID %s ChainID %s, want %s", l.DiffID(), l.ChainID(), want)
	}
	if got := readAll(t, l); !bytes.Equal(got, layers[0]) {
		t.Errorf("TarStream differs from the fixture's layer.tar")
	}
}

func TestLayeredFixture(t *testing.T) {
	_, layers := readSaveArchive(t, "layered-docker-save.tar")
	want := []DiffID{
		"sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce",
		"sha256:6e548d763b6ecb963399c965b75ae6eae55aea52f68f2f4e81ec1348c3b2c050",
		"sha256:ae321be16429345f29e813732386b32def18a67fc8f328f9a9bc154e0a61f8ae",
	}
	if len(layers) != len(want) {
		t.Fatalf("%d layers", len(layers))
	}
	s := newHarness(t).open(t)
	var parent ChainID
	for i, data := range layers {
		l := mustRegister(t, s, data, parent)
		if l.DiffID() != want[i] {
			t.Errorf("layer %d: DiffID %s, want %s", i, l.DiffID(), want[i])
		}
		if l.ChainID() != CreateChainID(want[:i+1]) {
			t.Errorf("layer %d: ChainID %s", i, l.ChainID())
		}
		parent = l.ChainID()
	}
	rw, err := s.CreateRWLayer("c", parent, RWLayerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := rw.Mount()
	defer rw.Unmount()
	ents, _ := os.ReadDir(filepath.Join(dir, "etc", "app"))
	if len(ents) != 1 || ents[0].Name() != "b" {
		t.Errorf("/etc/app holds %v, want only b", ents)
	}
}
