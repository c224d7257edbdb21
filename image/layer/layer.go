// Package layer is the layer store: the read-only layers that images are
// made of, identified by chain ID, and the read-write layers that
// containers write to, both kept by a graphdriver.
//
// A layer's DiffID is the sha256 of its uncompressed diff tar; its ChainID
// names the layer together with everything below it (Docker's formula,
// CreateChainID). Two registrations of the same diff on the same parent are
// one layer. Layers are reference counted: Register and Get hand out
// references, a child layer and a read-write layer hold one on their parent,
// and the Release that drops the last reference removes the layer (and, in
// turn, parents nobody else holds). Counts live in memory only; at start
// they are rebuilt from the parent links, the image store acquires its
// images' layers, and GC removes what is left unheld (partial loads that a
// crash interrupted).
//
// Each layer's tar headers and padding are kept next to the driver's copy
// (tar-split), so that TarStream reproduces the original diff byte for byte
// from them and the driver's files, and a save or push yields the same
// DiffIDs (see tarfile.go).
package layer

import (
	"io"

	"github.com/opencontainers/go-digest"
)

// ChainID identifies a layer together with all of its parents.
type ChainID digest.Digest

// String returns "sha256:<hex>".
func (id ChainID) String() string { return string(id) }

// DiffID is the digest of a layer's uncompressed diff tar.
type DiffID digest.Digest

// String returns "sha256:<hex>".
func (id DiffID) String() string { return string(id) }

// CreateChainID returns the chain ID of a stack of diffs, bottom first:
// chain(1) = diffID(1), chain(n) = sha256(chain(n-1) + " " + diffID(n)).
// It returns "" for no diffs.
func CreateChainID(diffIDs []DiffID) ChainID {
	var id ChainID
	for _, d := range diffIDs {
		id = ChildChainID(id, d)
	}
	return id
}

// ChildChainID is the chain ID of diff on top of the layer parent ("" for a
// base layer).
func ChildChainID(parent ChainID, diff DiffID) ChainID {
	if parent == "" {
		return ChainID(diff)
	}
	return ChainID(digest.FromString(string(parent) + " " + string(diff)))
}

// Layer is a read-only layer.
type Layer interface {
	// ChainID identifies the layer with its parents.
	ChainID() ChainID
	// DiffID is the sha256 of the layer's own diff.
	DiffID() DiffID
	// Parent is the layer below, or nil for a base layer. It is a view,
	// not a reference: do not Release it.
	Parent() Layer
	// Size is the content size of the layer with its parents.
	Size() int64
	// DiffSize is the content size of the layer's own diff.
	DiffSize() int64
	// TarStream returns the layer's diff exactly as it was registered: its
	// sha256 is DiffID. A read that reaches the end of a stream that does
	// not match fails with ErrDigestMismatch. A layer whose diff cannot be
	// rebuilt from its content (see tarfile.go) fails with
	// ErrDiffNotReproducible.
	TarStream() (io.ReadCloser, error)
	// TarSize is the length of TarStream in bytes.
	TarSize() int64
}

// Metadata describes a layer, for reporting removals.
type Metadata struct {
	ChainID  ChainID
	DiffID   DiffID
	Size     int64
	DiffSize int64
}

// roLayer is a registered layer. Its fields other than refs are immutable.
type roLayer struct {
	store   *Store
	chainID ChainID
	diffID  DiffID
	parent  *roLayer
	cacheID string
	tar     string // file name under <root>/tars
	// unreproducible says why TarStream cannot reproduce the diff, if so.
	unreproducible string
	tarSize        int64
	size           int64
	diffSize       int64

	refs int // guarded by store.mu
	// init is the cache ID of the init layer shared by the read-write
	// layers above (RWLayerOptions.Init), "" until the first; guarded by
	// store.mu.
	init string
}

func (l *roLayer) ChainID() ChainID { return l.chainID }
func (l *roLayer) DiffID() DiffID   { return l.diffID }
func (l *roLayer) Size() int64      { return l.size }
func (l *roLayer) DiffSize() int64  { return l.diffSize }
func (l *roLayer) TarSize() int64   { return l.tarSize }

func (l *roLayer) Parent() Layer {
	if l.parent == nil {
		return nil
	}
	return l.parent
}

func (l *roLayer) TarStream() (io.ReadCloser, error) {
	return l.store.openTar(l)
}

func (l *roLayer) metadata() Metadata {
	return Metadata{ChainID: l.chainID, DiffID: l.diffID, Size: l.size, DiffSize: l.diffSize}
}

// cacheIDOf is the driver ID of l, "" for no layer.
func cacheIDOf(l *roLayer) string {
	if l == nil {
		return ""
	}
	return l.cacheID
}

// layerRef is one reference to a layer, handed out by Register and Get and
// given back by Release exactly once.
type layerRef struct {
	*roLayer
	released bool // guarded by store.mu
}
