// Package graphdriver defines the storage drivers that hold image and
// container layers as directories: each layer has an ID chosen by its caller
// (the layer store), an optional parent, and content that is its parent's
// plus a diff. Drivers: overlay2 (kernel overlayfs, the default where the
// backing filesystem supports it) and vfs (full copies, works anywhere).
//
// Diffs cross this interface as uncompressed tar streams in the image
// format: deletions are `.wh.<name>` whiteout files and opaque directories
// carry `.wh..wh..opq`, whatever the driver uses on disk.
package graphdriver

import (
	"errors"
	"io"

	"github.com/moby/go-archive"
)

// Sentinel errors.
var (
	// ErrNotSupported: the driver cannot work on this host or filesystem.
	ErrNotSupported = errors.New("driver not supported")
	// ErrLayerNotFound: no layer with that ID.
	ErrLayerNotFound = errors.New("layer not found")
)

// Driver is a layer storage driver.
type Driver interface {
	// String is the driver's name ("overlay2", "vfs").
	String() string
	// Create makes a read-only layer id on top of parent ("" for a base
	// layer), with empty content of its own.
	Create(id, parent string) error
	// CreateReadWrite makes a layer that containers write to.
	CreateReadWrite(id, parent string) error
	// Remove deletes a layer; it must not be mounted.
	Remove(id string) error
	// Exists reports whether layer id exists.
	Exists(id string) bool
	// Get mounts the layer's full filesystem (counting references) and
	// returns the directory where it is.
	Get(id string) (dir string, err error)
	// Put releases one Get; the last one unmounts.
	Put(id string) error
	// ApplyDiff extracts the tar diff into layer id (whose parent is
	// parent) and returns the size of the content it added. Paths that
	// would escape the layer are refused.
	ApplyDiff(id, parent string, diff io.Reader) (size int64, err error)
	// Diff returns the layer's changes against parent as a tar stream.
	Diff(id, parent string) (io.ReadCloser, error)
	// Changes lists the paths that differ between layer id and parent.
	Changes(id, parent string) ([]archive.Change, error)
	// DiffSize is the size of Diff's content without producing it.
	DiffSize(id, parent string) (int64, error)
	// Status describes the driver for `docker info`.
	Status() [][2]string
	// Cleanup releases everything the driver holds (unmounts).
	Cleanup() error
}
