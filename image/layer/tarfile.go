package layer

// How TarStream reproduces a layer's diff byte for byte.
//
// A DiffID is the sha256 of the exact tar bytes a layer was registered from:
// header encodings, padding, entry order, trailing zero blocks. Regenerating
// a tar from the driver's directory cannot reproduce them. As Docker does,
// Berth records the tar's raw headers and padding with tar-split while the
// diff is applied (one pass over the input, see tarsplit.go), in
// <root>/tars/<cacheID>.tar-split.json.gz, fsynced before the layer's record
// is committed: a few bytes per entry, no content. TarStream replays the
// recorded bytes and reads each regular file's content back from the layer's
// own directory in the driver (graphdriver.DiffGetter: overlay2's diff
// directory, vfs's layer directory; other drivers' mounted filesystem),
// and checks the sha256 of the result against the DiffID as it goes.
//
// That works as long as the driver's copy of each path holds the content
// the tar gave it, which a tar can defeat: an entry replaced or deleted by a
// later entry of the same diff, content on a whiteout, a sparse file.
// Register spots such entries and, for those diffs only, reassembles the
// stream at once to check it; a diff that cannot be reproduced is still
// registered (containers can use it) but recorded as such, and its TarStream
// fails with ErrDiffNotReproducible (Docker refuses such diffs outright).
//
// Layers registered before tar-split (<cacheID>.tar.zst, the whole diff
// zstd compressed) are still read.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/berth-engine/berth/graphdriver"
)

const (
	tarSuffix       = ".tar-split.json.gz"
	legacyTarSuffix = ".tar.zst"
)

func (s *Store) tarDir() string { return filepath.Join(s.root, "tars") }

func (s *Store) tarPath(name string) string { return filepath.Join(s.tarDir(), filepath.Base(name)) }

func tarName(cacheID string) string { return cacheID + tarSuffix }

// removeTars removes cacheID's metadata file, in either format.
func (s *Store) removeTars(cacheID string) error {
	var first error
	for _, name := range []string{tarName(cacheID), cacheID + legacyTarSuffix} {
		if err := os.Remove(s.tarPath(name)); err != nil && !os.IsNotExist(err) && first == nil {
			first = err
		}
	}
	return first
}

// openTar opens l's original diff.
func (s *Store) openTar(l *roLayer) (io.ReadCloser, error) {
	if l.unreproducible != "" {
		return nil, fmt.Errorf("layer %s: %w: %s", l.chainID, ErrDiffNotReproducible, l.unreproducible)
	}
	if strings.HasSuffix(l.tar, legacyTarSuffix) {
		return s.openLegacyTar(l)
	}
	return s.openSplit(l)
}

// openSplit reassembles l's diff from its tar-split metadata and its files.
func (s *Store) openSplit(l *roLayer) (_ io.ReadCloser, retErr error) {
	f, err := os.Open(s.tarPath(l.tar))
	if err != nil {
		return nil, fmt.Errorf("layer %s: opening its diff metadata: %w", l.chainID, err)
	}
	defer func() {
		if retErr != nil {
			f.Close()
		}
	}()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("layer %s: reading its diff metadata: %w", l.chainID, err)
	}
	dir, put, err := s.contentDir(l.cacheID)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.chainID, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		put()
		return nil, fmt.Errorf("layer %s: %w", l.chainID, err)
	}
	a := &assembler{dec: json.NewDecoder(gz), root: root}
	return newVerifyingReader(a, func() error {
		a.Close()
		root.Close()
		put()
		gz.Close()
		return f.Close()
	}, l), nil
}

// contentDir is where the driver keeps the content of layer cacheID, and
// what to call when done with it.
func (s *Store) contentDir(cacheID string) (string, func(), error) {
	if dg, ok := s.driver.(graphdriver.DiffGetter); ok {
		dir, err := dg.DiffPath(cacheID)
		return dir, func() {}, err
	}
	dir, err := s.driver.Get(cacheID)
	if err != nil {
		return "", nil, err
	}
	return dir, func() {
		if err := s.driver.Put(cacheID); err != nil {
			s.log.WithField("cache-id", cacheID).WithError(err).Warn("unmounting layer after reading its diff")
		}
	}, nil
}

// openLegacyTar decompresses l's diff, kept whole.
func (s *Store) openLegacyTar(l *roLayer) (io.ReadCloser, error) {
	f, err := os.Open(s.tarPath(l.tar))
	if err != nil {
		return nil, fmt.Errorf("layer %s: opening its diff: %w", l.chainID, err)
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: reading its diff: %w", l.chainID, err)
	}
	return newVerifyingReader(dec, func() error {
		dec.Close()
		return f.Close()
	}, l), nil
}
