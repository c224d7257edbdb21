package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-engine/berth/image/layer"
)

const fixtureDir = "../../shared/fixtures"

// loadSaveArchive registers the layers of the single image in a legacy
// `docker save` archive and returns its config.
func loadSaveArchive(t *testing.T, ls *layer.Store, name string) (config []byte, top layer.Layer) {
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
		if b, err := io.ReadAll(tr); err == nil && hdr.Typeflag == tar.TypeReg {
			files[hdr.Name] = b
		}
	}
	var manifest []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	var parent layer.ChainID
	for _, p := range manifest[0].Layers {
		l, err := ls.Register(bytes.NewReader(files[p]), parent)
		if err != nil {
			t.Fatal(err)
		}
		if top != nil {
			ls.Release(top)
		}
		top, parent = l, l.ChainID()
	}
	return files[manifest[0].Config], top
}

func TestFixtureImageIDs(t *testing.T) {
	for _, tc := range []struct{ archive, id string }{
		{"busybox-docker-save.tar", "sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806"},
		{"layered-docker-save.tar", "sha256:7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80"},
	} {
		t.Run(tc.archive, func(t *testing.T) {
			ls, is := newHarness(t).open(t)
			config, top := loadSaveArchive(t, ls, tc.archive)
			id, err := is.Create(config)
			if err != nil {
				t.Fatal(err)
			}
			ls.Release(top)
			if id.String() != tc.id {
				t.Errorf("ID %s, want %s", id, tc.id)
			}
			img, _ := is.Get(id)
			if img.ChainID != top.ChainID() {
				t.Errorf("ChainID %s, want %s", img.ChainID, top.ChainID())
			}
		})
	}
}
