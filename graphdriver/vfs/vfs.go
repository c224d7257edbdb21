// Package vfs is the graph driver that needs no kernel support: every layer
// is a full copy of its parent's directory plus its diff. It is slow and
// large, and works on any filesystem.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/go-archive"
	"github.com/moby/sys/user"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/unpack"
	"github.com/berth-engine/berth/internal/trash"
)

// Name of the driver.
const Name = "vfs"

var (
	_ graphdriver.Driver     = (*Driver)(nil)
	_ graphdriver.DiffGetter = (*Driver)(nil)
)

// Driver keeps layers in <root>/dir/<id>.
type Driver struct {
	root  string
	trash *trash.Trash // Remove moves a layer here
}

// New returns a vfs driver rooted at root.
func New(root string) (*Driver, error) {
	if err := os.MkdirAll(filepath.Join(root, layersDir), 0o700); err != nil {
		return nil, fmt.Errorf("vfs: %w", err)
	}
	tr, err := trash.Open(filepath.Join(root, "trash"))
	if err != nil {
		return nil, fmt.Errorf("vfs: %w", err)
	}
	return &Driver{root: root, trash: tr}, nil
}

func (d *Driver) String() string { return Name }

// layersDir holds the layers under the driver's root, beside its trash.
const layersDir = "dir"

func (d *Driver) dir(id string) string { return filepath.Join(d.root, layersDir, filepath.Base(id)) }

// HasLayers reports whether root, a vfs driver's root, holds any layer.
func HasLayers(root string) bool {
	entries, err := os.ReadDir(filepath.Join(root, layersDir))
	return err == nil && len(entries) > 0
}

func checkID(id string) error {
	if err := graphdriver.CheckID(id); err != nil {
		return fmt.Errorf("vfs: %w", err)
	}
	return nil
}

// Create copies parent's content into a new layer directory.
func (d *Driver) Create(id, parent string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if parent != "" {
		if err := checkID(parent); err != nil {
			return err
		}
	}
	dir := d.dir(id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("vfs: creating layer %s: %w", id, err)
	}
	if parent == "" {
		return nil
	}
	if !d.Exists(parent) {
		os.RemoveAll(dir)
		return fmt.Errorf("vfs: parent %s: %w", parent, graphdriver.ErrLayerNotFound)
	}
	if err := archive.NewDefaultArchiver().CopyWithTar(d.dir(parent), dir); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("vfs: copying parent %s: %w", parent, err)
	}
	return nil
}

// CreateReadWrite is Create: vfs layers are plain directories.
func (d *Driver) CreateReadWrite(id, parent string) error { return d.Create(id, parent) }

// Remove deletes the layer directory.
func (d *Driver) Remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	// Deleted in the background (a full copy is slow to delete): once
	// moved, the layer is gone.
	if err := d.trash.Move(d.dir(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("vfs: removing layer %s: %w", id, err)
	}
	return nil
}

// Exists reports whether the layer directory exists.
func (d *Driver) Exists(id string) bool {
	if checkID(id) != nil {
		return false
	}
	_, err := os.Stat(d.dir(id))
	return err == nil
}

// Get returns the layer directory; nothing is mounted.
func (d *Driver) Get(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	dir := d.dir(id)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("vfs: %s: %w", id, graphdriver.ErrLayerNotFound)
		}
		return "", err
	}
	return dir, nil
}

// DiffPath returns the layer directory (graphdriver.DiffGetter). It holds
// the parent's content too; the paths of the layer's own diff have the
// content the diff gave them.
func (d *Driver) DiffPath(id string) (string, error) { return d.Get(id) }

// Put does nothing: Get mounted nothing.
func (d *Driver) Put(string) error { return nil }

// ApplyDiff extracts diff into the layer, applying whiteouts as deletions,
// and reads diff to its end (so that a caller digesting the stream sees
// all of it). unpack.Apply has archive.UnpackLayer's semantics; not
// archive.ApplyUncompressedLayer, which sets the process-wide umask to 0
// while it runs, racing with every other goroutine creating files;
// extraction sets each entry's mode explicitly anyway.
func (d *Driver) ApplyDiff(id, _ string, diff io.Reader) (int64, error) {
	if _, err := d.Get(id); err != nil {
		return 0, err
	}
	diff = unpack.Buffered(diff)
	size, err := unpack.Apply(d.dir(id), diff, unpack.Deletions)
	if err != nil {
		return 0, fmt.Errorf("vfs: applying diff to %s: %w", id, err)
	}
	if _, err := io.Copy(io.Discard, diff); err != nil {
		return 0, fmt.Errorf("vfs: applying diff to %s: %w", id, err)
	}
	return size, nil
}

// Diff compares the layer with its parent's directory.
func (d *Driver) Diff(id, parent string) (io.ReadCloser, error) {
	if _, err := d.Get(id); err != nil {
		return nil, err
	}
	changes, err := d.Changes(id, parent)
	if err != nil {
		return nil, err
	}
	return archive.ExportChanges(d.dir(id), changes, user.IdentityMapping{})
}

// Changes compares the layer with its parent's directory.
func (d *Driver) Changes(id, parent string) ([]archive.Change, error) {
	if _, err := d.Get(id); err != nil {
		return nil, err
	}
	parentDir := ""
	if parent != "" {
		var err error
		if parentDir, err = d.Get(parent); err != nil {
			return nil, err
		}
	}
	return archive.ChangesDirs(d.dir(id), parentDir)
}

// DiffSize is the size of the changed files.
func (d *Driver) DiffSize(id, parent string) (int64, error) {
	changes, err := d.Changes(id, parent)
	if err != nil {
		return 0, err
	}
	return archive.ChangesSize(d.dir(id), changes), nil
}

// Status has nothing to report.
func (d *Driver) Status() [][2]string { return nil }

// Cleanup waits for the deletion of removed layers (nothing is mounted).
func (d *Driver) Cleanup() error {
	if err := d.trash.Close(); err != nil {
		return fmt.Errorf("vfs: cleanup: %w", err)
	}
	return nil
}
