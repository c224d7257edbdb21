package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// bigTar is a ~50 MiB layer: 50 files of 1 MiB of pseudo-random (so
// incompressible) bytes.
func bigTar(b *testing.B) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rnd := rand.NewChaCha8([32]byte{1})
	chunk := make([]byte, 1<<20)
	for i := range 50 {
		rnd.Read(chunk)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data/f%02d", i), Mode: 0o644, Size: int64(len(chunk)), ModTime: epoch, Typeflag: tar.TypeReg})
		tw.Write(chunk)
	}
	tw.Close()
	return buf.Bytes()
}

// BenchmarkRegister registers a ~50 MiB single-layer tar on vfs: driver
// create, apply, digest and tar-split metadata, two commits. The layer is
// released (removed) outside the timer.
func BenchmarkRegister(b *testing.B) {
	data := bigTar(b)
	s := newHarness(b).open(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		l, err := s.Register(bytes.NewReader(data), "")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := s.Release(l); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkTarStream reassembles a ~50 MiB layer's diff from its tar-split
// metadata and files, and checks its digest.
func BenchmarkTarStream(b *testing.B) {
	data := bigTar(b)
	s := newHarness(b).open(b)
	l, err := s.Register(bytes.NewReader(data), "")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		rc, err := l.TarStream()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
