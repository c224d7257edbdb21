// Package vfs is the graph driver that needs no kernel support: every layer
// is a full copy of its parent's directory plus its diff. It is slow and
// large, and works on any filesystem.
package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/go-archive"
	"github.com/moby/sys/user"

	"github.com/berth-engine/berth/graphdriver"
)

// Name of the driver.
const Name = "vfs"

// Driver keeps layers in <root>/dir/<id>.
type Driver struct {
	root string
}

// New returns a vfs driver rooted at root.
func New(root string) (*Driver, error) {
	if err := os.MkdirAll(filepath.Join(root, "dir"), 0o700); err != nil {
		return nil, fmt.Errorf("vfs: %w", err)
	}
	return &Driver{root: root}, nil
}

func (d *Driver) String() string { return Name }

func (d *Driver) dir(id string) string { return filepath.Join(d.root, "dir", filepath.Base(id)) }

// Create copies parent's content into a new layer directory.
func (d *Driver) Create(id, parent string) error {
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
	if err := os.RemoveAll(d.dir(id)); err != nil {
		return fmt.Errorf("vfs: removing layer %s: %w", id, err)
	}
	return nil
}

// Exists reports whether the layer directory exists.
func (d *Driver) Exists(id string) bool {
	_, err := os.Stat(d.dir(id))
	return err == nil
}

// Get returns the layer directory; nothing is mounted.
func (d *Driver) Get(id string) (string, error) {
	dir := d.dir(id)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("vfs: %s: %w", id, graphdriver.ErrLayerNotFound)
		}
		return "", err
	}
	return dir, nil
}

// Put does nothing: Get mounted nothing.
func (d *Driver) Put(string) error { return nil }

// ApplyDiff extracts diff into the layer, applying whiteouts as deletions.
func (d *Driver) ApplyDiff(id, _ string, diff io.Reader) (int64, error) {
	size, err := archive.ApplyUncompressedLayer(d.dir(id), diff, &archive.TarOptions{})
	if err != nil {
		return 0, fmt.Errorf("vfs: applying diff to %s: %w", id, err)
	}
	return size, nil
}

// Diff compares the layer with its parent's directory.
func (d *Driver) Diff(id, parent string) (io.ReadCloser, error) {
	changes, err := d.Changes(id, parent)
	if err != nil {
		return nil, err
	}
	return archive.ExportChanges(d.dir(id), changes, user.IdentityMapping{})
}

// Changes compares the layer with its parent's directory.
func (d *Driver) Changes(id, parent string) ([]archive.Change, error) {
	parentDir := ""
	if parent != "" {
		parentDir = d.dir(parent)
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

// Cleanup has nothing to release.
func (d *Driver) Cleanup() error { return nil }
