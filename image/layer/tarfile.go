package layer

// How TarStream reproduces a layer's diff byte for byte.
//
// A DiffID is the sha256 of the exact tar bytes a layer was registered from:
// header encodings, padding, entry order, trailing zero blocks. Regenerating
// a tar from the driver's directory cannot reproduce them. Docker records
// the tar's headers with tar-split and re-reads file contents from the
// driver; Berth keeps the whole original stream instead, zstd compressed
// (fastest level), in <root>/tars/<cacheID>.tar.zst, written while the diff
// is applied (one pass over the input) and fsynced before the layer's record
// is committed. TarStream decompresses it and checks the sha256 as it goes.
//
// The cost is disk: every layer's content is stored twice, once expanded by
// the driver and once compressed (about what a registry blob or containerd's
// content store costs). In exchange the copy is exact for any tar, including
// ones tar-split cannot describe (duplicate entries, hard links to later
// overwritten paths), and does not depend on the driver's on-disk format.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

const tarSuffix = ".tar.zst"

func (s *Store) tarDir() string { return filepath.Join(s.root, "tars") }

func (s *Store) tarPath(name string) string { return filepath.Join(s.tarDir(), filepath.Base(name)) }

func tarName(cacheID string) string { return cacheID + tarSuffix }

// encoders are reused: a zstd encoder allocates its tables once.
var encoders = sync.Pool{New: func() any {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic(err) // only for invalid options
	}
	return enc
}}

// tarWriter writes a layer's original diff to its file.
type tarWriter struct {
	f    *os.File
	enc  *zstd.Encoder
	path string
}

func (s *Store) createTar(name string) (*tarWriter, error) {
	path := s.tarPath(name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	enc := encoders.Get().(*zstd.Encoder)
	enc.Reset(f)
	return &tarWriter{f: f, enc: enc, path: path}, nil
}

func (w *tarWriter) Write(p []byte) (int, error) { return w.enc.Write(p) }

// finish flushes, fsyncs and closes the file.
func (w *tarWriter) finish() error {
	err := w.enc.Close()
	w.release()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(w.path)
	}
	return err
}

// abort closes and deletes the file.
func (w *tarWriter) abort() {
	w.enc.Close()
	w.release()
	w.f.Close()
	os.Remove(w.path)
}

func (w *tarWriter) release() {
	w.enc.Reset(nil)
	encoders.Put(w.enc)
	w.enc = nil
}

// openTar opens l's original diff.
func (s *Store) openTar(l *roLayer) (io.ReadCloser, error) {
	f, err := os.Open(s.tarPath(l.tar))
	if err != nil {
		return nil, fmt.Errorf("layer %s: opening its diff: %w", l.chainID, err)
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: reading its diff: %w", l.chainID, err)
	}
	return &verifyingReader{f: f, dec: dec, h: sha256.New(), want: l.diffID, chainID: l.chainID}, nil
}

// verifyingReader decompresses a layer's diff and fails the read that
// reaches its end if the content does not hash to the DiffID.
type verifyingReader struct {
	f       *os.File
	dec     *zstd.Decoder
	h       hash.Hash
	want    DiffID
	chainID ChainID
	closed  bool
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	n, err := r.dec.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := digest.NewDigest(digest.SHA256, r.h); got != digest.Digest(r.want) {
			return n, fmt.Errorf("layer %s: stored diff hashes to %s, want %s: %w", r.chainID, got, r.want, ErrDigestMismatch)
		}
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("layer %s: reading its diff: %w", r.chainID, err)
	}
	return n, nil
}

func (r *verifyingReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.dec.Close()
	return r.f.Close()
}

// isTarFileName reports whether name looks like a file this store writes in
// <root>/tars.
func isTarFileName(name string) bool { return strings.HasSuffix(name, tarSuffix) }
