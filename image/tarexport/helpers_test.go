package tarexport

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Facts of ../shared/fixtures/README.md.
const (
	busyboxID     = "sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806"
	busyboxDiffID = "sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce"
	layeredID     = "sha256:7a92bbc04899d1fefcaa77ecf867099e444dce1e1539a8672de0ba31c6183a80"
	// skopeo rewrote the config when it converted the image to OCI (dropping Docker's
	// container_config and the like), so there the image ID, sha256(config), differs;
	// the layers are the same.
	layeredOCIID = "sha256:c9867afb8f2e3ad080316bfae99f753997bc522aa995959664a080bf174beedf"
)

var layeredDiffIDs = []string{
	"sha256:12ebd3379473dd38a9e697c5597745052cdc3091ab469f2cae61c2df1898f6ce",
	"sha256:6e548d763b6ecb963399c965b75ae6eae55aea52f68f2f4e81ec1348c3b2c050",
	"sha256:ae321be16429345f29e813732386b32def18a67fc8f328f9a9bc154e0a61f8ae",
}

// fixturesDir finds ../shared/fixtures (relative to the repository root) from the package
// directory, or "" if there is none.
func fixturesDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		for _, c := range []string{filepath.Join(dir, "..", "shared", "fixtures"), filepath.Join(dir, "shared", "fixtures")} {
			if _, err := os.Stat(filepath.Join(c, "README.md")); err == nil {
				return c
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	dir := fixturesDir()
	if dir == "" {
		tb.Skip("no ../shared/fixtures")
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Skipf("fixture %s: %v", name, err)
	}
	return b
}

type tarEntry struct {
	hdr  tar.Header
	data []byte
}

func readTar(tb testing.TB, b []byte) []tarEntry {
	tb.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tarEntry{hdr: *hdr, data: data})
	}
}

func writeTar(tb testing.TB, entries []tarEntry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func file(name string, data []byte) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}, data: data}
}

func gzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// load loads an archive into store, collecting progress.
func load(tb testing.TB, store Store, archive []byte, opts LoadOptions) ([]LoadedImage, []Progress, error) {
	tb.Helper()
	var progress []Progress
	opts.Progress = func(p Progress) { progress = append(progress, p) }
	if opts.TempDir == "" {
		opts.TempDir = tb.TempDir()
	}
	loaded, err := Load(context.Background(), bytes.NewReader(archive), store, opts)
	return loaded, progress, err
}

// layerTar makes a small layer tar of the given files.
func layerTar(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var entries []tarEntry
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		entries = append(entries, file(n, []byte(files[n])))
	}
	return writeTar(tb, entries)
}
