// Package overlay2 is the graph driver built on the kernel's overlayfs,
// laid out as Docker's overlay2 so that its directories look familiar:
//
//	<root>/l/<LINK>            symlink to ../<id>/diff; LINK is 26 random
//	                           base32 characters, short so that deep
//	                           chains fit the one page of mount data
//	<root>/<id>/diff/          the layer's own content (overlay upper dir)
//	<root>/<id>/link           LINK
//	<root>/<id>/lower          "l/<parent LINK>:l/<grandparent LINK>:...",
//	                           nearest first; absent for a base layer
//	<root>/<id>/work/          overlay work dir (layers with a parent)
//	<root>/<id>/merged/        where Get mounts the full filesystem
//	<root>/<id>/committed      present once the layer is read-only: made
//	                           by Create, or given a child; such a layer
//	                           mounts without an upper dir
//
// A base layer's diff directory is already its full filesystem, so Get
// returns it without mounting. Any other layer is mounted at its merged
// directory on the first Get and unmounted at the last Put; the counts
// live in memory, and a mount left behind by an earlier process is
// adopted by the first Get rather than mounted twice.
//
// Diffs: ApplyDiff extracts a tar straight into the diff directory with
// graphdriver/unpack (go-archive's semantics, with fd-relative openat2
// RESOLVE_IN_ROOT extraction that keeps every path inside the
// destination), turning `.wh.` files into overlay whiteouts
// (0/0 character devices) and `.wh..wh..opq` into the trusted.overlay.opaque
// xattr. Diff tars the diff directory and turns them back. Mounts pass
// redirect_dir=off and metacopy=off (when the kernel has them) so that the
// diff directory is always the complete diff; Changes and DiffSize read it
// too. When Diff or Changes is asked against a layer that is not the
// parent, it compares the two mounted filesystems instead.
package overlay2

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/locker"
	"github.com/moby/sys/mountinfo"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/unpack"
	"github.com/berth-engine/berth/internal/trash"
)

// Name of the driver.
const Name = "overlay2"

const (
	linkDir        = "l"
	diffDirName    = "diff"
	workDirName    = "work"
	mergedDirName  = "merged"
	linkFile       = "link"
	lowerFile      = "lower"
	committedFile  = "committed"
	checkDirPrefix = "check-overlay-"
	trashDir       = "trash" // removed layers being deleted (internal/trash)
	linkIDLength   = 26
	// MaxDepth is the most lower layers a layer may have (Docker's
	// limit). At 29 bytes a lower ("l/<LINK>:"), 128 of them and the
	// longest IDs fit the page of mount data with relative paths.
	MaxDepth = 128
)

// Driver keeps layers under root as described in the package comment.
type Driver struct {
	root     string
	features features
	locks    *locker.Locker // per layer ID
	trash    *trash.Trash   // Remove moves a layer here

	mu   sync.Mutex
	refs map[string]int // mounted layer ID -> Gets not yet Put
}

var (
	_ graphdriver.Driver     = (*Driver)(nil)
	_ graphdriver.DiffGetter = (*Driver)(nil)
)

// New returns an overlay2 driver keeping its layers in root (created if
// missing). It fails with an error wrapping graphdriver.ErrNotSupported
// when Supported(root) does.
func New(root string) (*Driver, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	f, err := check(root)
	if err != nil {
		return nil, err
	}
	// Mount points are compared as the kernel reports them: no symlinks.
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(root, linkDir), 0o700); err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	// Support checks a crash interrupted (one driver per root: the
	// daemon holds the data-root lock).
	stale, _ := filepath.Glob(filepath.Join(root, checkDirPrefix+"*"))
	for _, dir := range stale {
		if unmount(filepath.Join(dir, "merged")) == nil {
			_ = os.RemoveAll(dir)
		}
	}
	tr, err := trash.Open(filepath.Join(root, trashDir))
	if err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	return &Driver{
		root:     root,
		features: *f,
		locks:    locker.New(),
		trash:    tr,
		refs:     make(map[string]int),
	}, nil
}

func (d *Driver) String() string { return Name }

func (d *Driver) dir(id string) string { return filepath.Join(d.root, id) }

func (d *Driver) diffPath(id string) string { return filepath.Join(d.root, id, diffDirName) }

// HasLayers reports whether root, an overlay2 driver's root, holds any
// layer: an entry other than the driver's own (links, trash, support
// checks).
func HasLayers(root string) bool {
	entries, err := os.ReadDir(root)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if n := e.Name(); n != linkDir && n != trashDir && !strings.HasPrefix(n, checkDirPrefix) {
			return true
		}
	}
	return false
}

func checkID(id string) error {
	if err := graphdriver.CheckID(id); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	if id == linkDir || id == trashDir || strings.HasPrefix(id, checkDirPrefix) {
		return fmt.Errorf("overlay2: %w: %q is reserved", graphdriver.ErrInvalidID, id)
	}
	return nil
}

// exists checks that layer id's directory is there.
func (d *Driver) exists(id string) error {
	if _, err := os.Lstat(d.dir(id)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("overlay2: %s: %w", id, graphdriver.ErrLayerNotFound)
		}
		return fmt.Errorf("overlay2: %w", err)
	}
	return nil
}

// Create makes a read-only layer: it mounts without an upper directory.
func (d *Driver) Create(id, parent string) error { return d.create(id, parent, true) }

// CreateReadWrite makes a layer whose mount is writable.
func (d *Driver) CreateReadWrite(id, parent string) error { return d.create(id, parent, false) }

func (d *Driver) create(id, parent string, readOnly bool) (retErr error) {
	if err := checkID(id); err != nil {
		return err
	}
	var lower string
	if parent != "" {
		if err := checkID(parent); err != nil {
			return err
		}
		var err error
		if lower, err = d.prepareParent(parent); err != nil {
			return err
		}
		if n := strings.Count(lower, ":") + 1; n > MaxDepth {
			return fmt.Errorf("overlay2: layer %s would have %d lower layers, more than the %d allowed", id, n, MaxDepth)
		}
	}

	// One layer lock at a time (parent's above, then this one), so
	// that no two calls can wait on each other.
	d.locks.Lock(id)
	defer d.locks.Unlock(id)
	dir := d.dir(id)
	if err := os.Mkdir(dir, 0o710); err != nil {
		return fmt.Errorf("overlay2: creating layer %s: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			_ = d.removeLayer(id)
		}
	}()
	if err := os.Mkdir(filepath.Join(dir, diffDirName), 0o755); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	lid, err := d.newLink(id)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, linkFile), []byte(lid), 0o644); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	if readOnly {
		if err := os.WriteFile(filepath.Join(dir, committedFile), nil, 0o600); err != nil {
			return fmt.Errorf("overlay2: %w", err)
		}
	}
	if parent == "" {
		return nil
	}
	for _, sub := range []string{workDirName, mergedDirName} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("overlay2: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, lowerFile), []byte(lower), 0o644); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	return nil
}

// prepareParent returns the lower file for a new child of parent, and
// marks parent committed: as someone's lower layer it mounts read-only
// from now on, since an upper dir must not also serve as a lower one.
func (d *Driver) prepareParent(parent string) (string, error) {
	d.locks.Lock(parent)
	defer d.locks.Unlock(parent)
	if err := d.exists(parent); err != nil {
		return "", fmt.Errorf("overlay2: parent %s: %w", parent, graphdriver.ErrLayerNotFound)
	}
	lower, err := d.lowerFor(parent)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(d.dir(parent), committedFile), nil, 0o600); err != nil {
		return "", fmt.Errorf("overlay2: %w", err)
	}
	return lower, nil
}

// newLink makes <root>/l/<LINK> -> ../<id>/diff for a fresh random LINK.
func (d *Driver) newLink(id string) (string, error) {
	target := filepath.Join("..", id, diffDirName)
	for range 10 {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		lid := base32.StdEncoding.EncodeToString(b)[:linkIDLength]
		err := os.Symlink(target, filepath.Join(d.root, linkDir, lid))
		if err == nil {
			return lid, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("overlay2: %w", err)
		}
	}
	return "", errors.New("overlay2: no free link name")
}

// readLower returns the content of layer id's lower file, "" for a base
// layer.
func (d *Driver) readLower(id string) (string, error) {
	b, err := os.ReadFile(filepath.Join(d.dir(id), lowerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("overlay2: %w", err)
	}
	return string(b), nil
}

func (d *Driver) readLink(id string) (string, error) {
	b, err := os.ReadFile(filepath.Join(d.dir(id), linkFile))
	if err != nil {
		return "", fmt.Errorf("overlay2: layer %s: %w", id, err)
	}
	lid := string(b)
	if len(lid) != linkIDLength || strings.ContainsAny(lid, "/:,") {
		return "", fmt.Errorf("overlay2: layer %s: corrupt link %q", id, lid)
	}
	return lid, nil
}

// lowerFor is the lower file of a child of parent: parent's link, then
// parent's own lowers.
func (d *Driver) lowerFor(parent string) (string, error) {
	lid, err := d.readLink(parent)
	if err != nil {
		return "", err
	}
	lower := linkDir + "/" + lid
	pl, err := d.readLower(parent)
	if err != nil {
		return "", err
	}
	if pl != "" {
		lower += ":" + pl
	}
	return lower, nil
}

// isParent reports whether parent is layer id's parent ("" for a base
// layer).
func (d *Driver) isParent(id, parent string) (bool, error) {
	lower, err := d.readLower(id)
	if err != nil {
		return false, err
	}
	if parent == "" {
		return lower == "", nil
	}
	if checkID(parent) != nil || d.exists(parent) != nil {
		return false, nil
	}
	want, err := d.lowerFor(parent)
	if err != nil {
		return false, err
	}
	return lower == want, nil
}

// Remove deletes layer id; removing a missing layer is not an error, a
// mounted one (Get without Put) is.
func (d *Driver) Remove(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	d.locks.Lock(id)
	defer d.locks.Unlock(id)
	d.mu.Lock()
	n := d.refs[id]
	d.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("overlay2: removing layer %s: %w (%d Gets not Put)", id, graphdriver.ErrLayerInUse, n)
	}
	return d.removeLayer(id)
}

func (d *Driver) removeLayer(id string) error {
	dir := d.dir(id)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// A mount left behind by an earlier process must go first: never
	// walk into a mounted filesystem to delete it.
	merged := filepath.Join(dir, mergedDirName)
	if err := unmount(merged); err != nil {
		return fmt.Errorf("overlay2: removing layer %s: %w", id, err)
	}
	if m, err := mountinfo.Mounted(merged); err == nil && m {
		return fmt.Errorf("overlay2: removing layer %s: %s is still mounted", id, merged)
	}
	if b, err := os.ReadFile(filepath.Join(dir, linkFile)); err == nil && len(b) > 0 && !strings.ContainsAny(string(b), "/") {
		if err := os.Remove(filepath.Join(d.root, linkDir, string(b))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("overlay2: removing layer %s: %w", id, err)
		}
	}
	// Deleted in the background: once moved, the layer is gone.
	if err := d.trash.Move(dir); err != nil {
		return fmt.Errorf("overlay2: removing layer %s: %w", id, err)
	}
	return nil
}

// Exists reports whether layer id exists.
func (d *Driver) Exists(id string) bool {
	return checkID(id) == nil && d.exists(id) == nil
}

// DiffPath returns layer id's diff directory: its own content, what
// ApplyDiff extracted (graphdriver.DiffGetter).
func (d *Driver) DiffPath(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if err := d.exists(id); err != nil {
		return "", err
	}
	return d.diffPath(id), nil
}

// Get returns the directory holding layer id's full filesystem: the diff
// directory of a base layer, otherwise the overlay mounted at merged.
func (d *Driver) Get(id string) (string, error) { return d.get(id, false) }

// GetEphemeral is Get with overlay's volatile option where the kernel has
// it (Linux 5.10+; graphdriver.EphemeralGetter): no syncs reach the
// backing filesystem.
func (d *Driver) GetEphemeral(id string) (string, error) { return d.get(id, true) }

func (d *Driver) get(id string, ephemeral bool) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	d.locks.Lock(id)
	defer d.locks.Unlock(id)
	if err := d.exists(id); err != nil {
		return "", err
	}
	lower, err := d.readLower(id)
	if err != nil {
		return "", err
	}
	if lower == "" {
		return d.diffPath(id), nil
	}
	merged := filepath.Join(d.dir(id), mergedDirName)

	d.mu.Lock()
	n := d.refs[id]
	if n > 0 {
		d.refs[id] = n + 1
	}
	d.mu.Unlock()
	if n > 0 {
		return merged, nil
	}

	if m, err := mountinfo.Mounted(merged); err == nil && m {
		// Left mounted by an earlier process: adopt it.
		d.setRefs(id, 1)
		return merged, nil
	}
	if err := d.mount(id, lower, merged, ephemeral); err != nil {
		return "", err
	}
	d.setRefs(id, 1)
	return merged, nil
}

func (d *Driver) setRefs(id string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n == 0 {
		delete(d.refs, id)
	} else {
		d.refs[id] = n
	}
}

func (d *Driver) mount(id, lower, merged string, ephemeral bool) error {
	if err := os.MkdirAll(merged, 0o700); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	lowers := strings.Split(lower, ":")
	var upper, work string
	if _, err := os.Stat(filepath.Join(d.dir(id), committedFile)); err == nil {
		lid, err := d.readLink(id)
		if err != nil {
			return err
		}
		lowers = append([]string{linkDir + "/" + lid}, lowers...)
	} else {
		upper = filepath.Join(id, diffDirName)
		work = filepath.Join(id, workDirName)
	}
	volatile := ephemeral && upper != "" && d.features.volatile
	if volatile {
		// A volatile mount leaves work/incompat/volatile behind, and
		// overlay refuses the next mount while it is there (whose upper
		// may be incomplete after a crash: for this layer, that is fine).
		if err := os.RemoveAll(filepath.Join(d.dir(id), workDirName, "work", "incompat")); err != nil {
			return fmt.Errorf("overlay2: %w", err)
		}
	}
	data := func(prefix string) string {
		var b strings.Builder
		b.WriteString(d.features.mountOpts)
		if volatile {
			b.WriteString("volatile,")
		}
		b.WriteString("lowerdir=")
		for i, l := range lowers {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(prefix + l)
		}
		if upper != "" {
			b.WriteString(",upperdir=" + prefix + upper + ",workdir=" + prefix + work)
		}
		return b.String()
	}
	abs := data(d.root + "/")
	relative := len(abs) >= unix.Getpagesize() || strings.ContainsAny(d.root, ":,")
	mdata := abs
	if relative {
		mdata = data("")
		if len(mdata) >= unix.Getpagesize() {
			return fmt.Errorf("overlay2: mounting layer %s: %d bytes of mount data exceed a page", id, len(mdata))
		}
	}
	if err := mountOverlay(d.root, merged, mdata, relative); err != nil {
		return fmt.Errorf("overlay2: mounting layer %s (%d lower layers): %w", id, len(lowers), err)
	}
	return nil
}

// Put releases one Get of layer id; the last one unmounts it.
func (d *Driver) Put(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	d.locks.Lock(id)
	defer d.locks.Unlock(id)
	if err := d.exists(id); err != nil {
		return err
	}
	lower, err := d.readLower(id)
	if err != nil || lower == "" {
		return err
	}
	d.mu.Lock()
	n := d.refs[id]
	if n > 1 {
		d.refs[id] = n - 1
	}
	d.mu.Unlock()
	if n > 1 {
		return nil
	}
	if err := unmount(filepath.Join(d.dir(id), mergedDirName)); err != nil {
		return fmt.Errorf("overlay2: %w", err)
	}
	d.setRefs(id, 0)
	return nil
}

// ApplyDiff extracts the tar diff into layer id's diff directory and
// returns the size of the regular files it holds. parent must be the
// layer's parent. The whole of diff is read, so that a caller digesting
// the stream sees its end (padding included) even though tar stops early.
func (d *Driver) ApplyDiff(id, parent string, diff io.Reader) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	d.locks.Lock(id)
	defer d.locks.Unlock(id)
	if err := d.exists(id); err != nil {
		return 0, err
	}
	ok, err := d.isParent(id, parent)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("overlay2: applying diff to %s: %q is %w", id, parent, graphdriver.ErrParentMismatch)
	}
	dst := d.diffPath(id)
	diff = unpack.Buffered(diff)
	format := unpack.Overlay
	if parent == "" {
		// A base layer's diff directory is what Get returns: apply
		// whiteouts as deletions (of nothing) instead of writing them.
		format = unpack.Deletions
	}
	_, err = unpack.Apply(dst, diff, format)
	if err != nil {
		return 0, fmt.Errorf("overlay2: applying diff to %s: %w", id, err)
	}
	if _, err := io.Copy(io.Discard, diff); err != nil {
		return 0, fmt.Errorf("overlay2: applying diff to %s: %w", id, err)
	}
	size, err := dirSize(dst, false)
	if err != nil {
		return 0, fmt.Errorf("overlay2: applying diff to %s: %w", id, err)
	}
	return size, nil
}

// Diff returns layer id's changes against parent as a tar stream in the
// image format.
func (d *Driver) Diff(id, parent string) (io.ReadCloser, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := d.exists(id); err != nil {
		return nil, err
	}
	ok, err := d.isParent(id, parent)
	if err != nil {
		return nil, err
	}
	if !ok || !d.features.nativeDiff {
		return d.naiveDiff(id, parent)
	}
	return archive.TarWithOptions(d.diffPath(id), &archive.TarOptions{
		Compression:    compression.None,
		WhiteoutFormat: archive.OverlayWhiteoutFormat,
	})
}

// Changes lists the paths that differ between layer id and parent.
func (d *Driver) Changes(id, parent string) ([]archive.Change, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := d.exists(id); err != nil {
		return nil, err
	}
	ok, err := d.isParent(id, parent)
	if err != nil {
		return nil, err
	}
	if !ok || !d.features.nativeDiff {
		changes, _, release, err := d.naiveChanges(id, parent)
		if err != nil {
			return nil, err
		}
		release()
		return changes, nil
	}
	parentFS := ""
	if parent != "" {
		if parentFS, err = d.Get(parent); err != nil {
			return nil, err
		}
		defer func() { _ = d.Put(parent) }()
	}
	changes, err := overlayChanges(d.diffPath(id), parentFS)
	if err != nil {
		return nil, fmt.Errorf("overlay2: changes of %s: %w", id, err)
	}
	return changes, nil
}

// DiffSize is the size of the regular files and symlinks in layer id's
// diff against parent.
func (d *Driver) DiffSize(id, parent string) (int64, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	if err := d.exists(id); err != nil {
		return 0, err
	}
	ok, err := d.isParent(id, parent)
	if err != nil {
		return 0, err
	}
	if !ok || !d.features.nativeDiff {
		changes, dir, release, err := d.naiveChanges(id, parent)
		if err != nil {
			return 0, err
		}
		defer release()
		return archive.ChangesSize(dir, changes), nil
	}
	return dirSize(d.diffPath(id), true)
}

// naiveChanges mounts both layers and compares their trees. release puts
// them back.
func (d *Driver) naiveChanges(id, parent string) (_ []archive.Change, dir string, release func(), _ error) {
	dir, err := d.Get(id)
	if err != nil {
		return nil, "", nil, err
	}
	release = func() { _ = d.Put(id) }
	parentDir := ""
	if parent != "" {
		if parentDir, err = d.Get(parent); err != nil {
			release()
			return nil, "", nil, err
		}
		release = func() { _ = d.Put(parent); _ = d.Put(id) }
	}
	changes, err := archive.ChangesDirs(dir, parentDir)
	if err != nil {
		release()
		return nil, "", nil, fmt.Errorf("overlay2: changes of %s against %s: %w", id, parent, err)
	}
	return changes, dir, release, nil
}

func (d *Driver) naiveDiff(id, parent string) (io.ReadCloser, error) {
	changes, dir, release, err := d.naiveChanges(id, parent)
	if err != nil {
		return nil, err
	}
	rc, err := archive.ExportChanges(dir, changes, user.IdentityMapping{})
	if err != nil {
		release()
		return nil, err
	}
	return &onClose{ReadCloser: rc, fn: release}, nil
}

type onClose struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (o *onClose) Close() error {
	err := o.ReadCloser.Close()
	o.once.Do(o.fn)
	return err
}

// Status describes the driver for `docker info`.
func (d *Driver) Status() [][2]string {
	return [][2]string{
		{"Backing Filesystem", d.features.backingFs},
		{"Supports d_type", "true"},
		{"Using metacopy", strconv.FormatBool(d.features.metacopy)},
		{"Native Overlay Diff", strconv.FormatBool(d.features.nativeDiff)},
	}
}

// Cleanup unmounts every layer still mounted by Get.
func (d *Driver) Cleanup() error {
	d.mu.Lock()
	ids := make([]string, 0, len(d.refs))
	for id := range d.refs {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	var errs []error
	for _, id := range ids {
		d.locks.Lock(id)
		if err := unmount(filepath.Join(d.dir(id), mergedDirName)); err != nil {
			errs = append(errs, err)
		} else {
			d.setRefs(id, 0)
		}
		d.locks.Unlock(id)
	}
	errs = append(errs, d.trash.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("overlay2: cleanup: %w", err)
	}
	return nil
}

// dirSize adds up the sizes of the regular files under dir (and of the
// symlinks, with withLinks), counting hard-linked files once. Overlay
// whiteouts are character devices and count nothing.
func dirSize(dir string, withLinks bool) (int64, error) {
	var size int64
	seen := make(map[uint64]struct{})
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := de.Type()
		if !t.IsRegular() && (!withLinks || t&fs.ModeSymlink == 0) {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if _, dup := seen[st.Ino]; dup {
				return nil
			}
			seen[st.Ino] = struct{}{}
		}
		size += fi.Size()
		return nil
	})
	return size, err
}
