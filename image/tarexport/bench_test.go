package tarexport

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// benchArchive writes a docker save archive of one image of one layer of about size bytes
// (files of 1 MiB of incompressible data) to dir and returns its path.
func benchArchive(b *testing.B, dir string, size int) string {
	b.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	rng := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 1<<20)
	for i := 0; i < size>>20; i++ {
		_, _ = rng.Read(chunk)
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("data/%04d", i), Mode: 0o644, Size: int64(len(chunk))}); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	diffID := digest.FromBytes(layer.Bytes())
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{diffID}}})
	configName := digest.FromBytes(config).Encoded() + ".json"
	manifest := []byte(`[{"Config":"` + configName + `","RepoTags":["bench:latest"],"Layers":["0123/layer.tar"]}]`)

	name := filepath.Join(dir, "archive.tar")
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	aw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{configName, config}, {"0123/layer.tar", layer.Bytes()}, {"manifest.json", manifest}} {
		if err := aw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data))}); err != nil {
			b.Fatal(err)
		}
		if _, err := aw.Write(e.data); err != nil {
			b.Fatal(err)
		}
	}
	if err := aw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return name
}

// BenchmarkLoad loads a ~100 MiB single-layer docker save archive from a file: unpacking it,
// then the layer through a store that hashes and parses it (discard), or also writes it to a
// file (disk), as a real store would.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	archive := benchArchive(b, dir, 100<<20)
	fi, err := os.Stat(archive)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"discard", "disk"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				s := newFakeStore()
				s.discard = true
				if mode == "disk" {
					s.diskDir = dir
				}
				f, err := os.Open(archive)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Load(context.Background(), f, s, LoadOptions{TempDir: dir}); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// BenchmarkSave saves a ~100 MiB single-layer image to io.Discard.
func BenchmarkSave(b *testing.B) {
	dir := b.TempDir()
	archive := benchArchive(b, dir, 100<<20)
	s := newFakeStore()
	f, err := os.Open(archive)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Load(context.Background(), f, s, LoadOptions{TempDir: dir}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(archive)
	for name, store := range map[string]Store{"spool": s, "sized": sizedStore{s}} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(fi.Size())
			for b.Loop() {
				if err := Save(context.Background(), io.Discard, store, []string{"bench:latest"}, SaveOptions{TempDir: dir}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
