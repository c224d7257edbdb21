// Package local is the built-in "local" volume driver: each volume is a
// directory <root>/<name>/_data, optionally backed by a filesystem that is
// mounted there (the type, device and o options, as in Docker's local driver).
//
// The driver keeps no metadata of its own: the VolumeStore owns names, labels
// and options and hands the options back on Mount. What the driver keeps in
// memory is which volumes are mounted and by whom.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/sys/mount"
	"github.com/moby/sys/mountinfo"
)

// Name is the driver's name in the API.
const Name = "local"

// MaxNameLength bounds a volume name to what fits in one path element.
const MaxNameLength = 255

// validName is Docker's rule for local volume names, except that one
// character is enough (Docker wants two; `docker volume create a` should work).
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

const validNameChars = "[a-zA-Z0-9][a-zA-Z0-9_.-]"

// requiredWith lists, for each option, the options it cannot go without.
var requiredWith = map[string][]string{
	"type":   {"device"},
	"device": {"type"},
	"o":      {"type", "device"},
}

// Driver is the local volume driver rooted at one directory.
type Driver struct {
	root string

	mu sync.Mutex
	// mounts holds, for each volume whose filesystem is mounted, the
	// references that asked for it. The mount goes when the last one does.
	mounts map[string]map[string]struct{}
}

// New creates the driver's root if needed and takes stock of the
// filesystems mounted under it by a previous run. A volume's mount (on
// <root>/<name>/_data) is adopted, with no reference yet: with live-restore
// a container may still use it, and takes its reference again through
// Mount, which then mounts nothing; the last Unmount or Remove unmounts it.
// Anything else mounted under the root, and a second mount stacked on a
// volume's, is unmounted and reported in fixed.
func New(root string) (d *Driver, fixed []string, err error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, nil, fmt.Errorf("local volume driver: %w", err)
	}
	d = &Driver{root: root, mounts: map[string]map[string]struct{}{}}
	found, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		return nil, nil, fmt.Errorf("local volume driver: reading mounts: %w", err)
	}
	// Newest first, so that what is mounted on top goes before what it
	// covers.
	slices.Reverse(found)
	seen := map[string]int{}
	for _, m := range found {
		if m.Mountpoint == root {
			continue // the volumes directory may be a filesystem of its own
		}
		seen[m.Mountpoint]++
	}
	for _, m := range found {
		if m.Mountpoint == root {
			continue
		}
		if name, ok := d.volumeOf(m.Mountpoint); ok && seen[m.Mountpoint] == 1 {
			d.mounts[name] = map[string]struct{}{}
			continue
		}
		// On a volume's directory with mounts stacked, each unmount takes
		// the top one off until one is left to adopt.
		if err := mount.Unmount(m.Mountpoint); err != nil {
			// Not fatal: only that directory stays busy.
			fixed = append(fixed, fmt.Sprintf("could not unmount stale %s: %v", m.Mountpoint, err))
			continue
		}
		seen[m.Mountpoint]--
		fixed = append(fixed, "unmounted stale "+m.Mountpoint)
	}
	return d, fixed, nil
}

// volumeOf names the volume whose data directory p is.
func (d *Driver) volumeOf(p string) (string, bool) {
	rel, err := filepath.Rel(d.root, p)
	if err != nil {
		return "", false
	}
	name, data, ok := strings.Cut(rel, string(filepath.Separator))
	if !ok || data != "_data" || !validName.MatchString(name) {
		return "", false
	}
	return name, true
}

// Name returns "local".
func (d *Driver) Name() string { return Name }

// Scope is "local": volumes exist on this host only.
func (d *Driver) Scope() string { return "local" }

// Path is where the volume's data is, and where containers mount it from.
func (d *Driver) Path(name string) string { return filepath.Join(d.root, name, "_data") }

// Validate checks a name and options before anything is reserved or written.
func (d *Driver) Validate(name string, opts map[string]string) error {
	if len(name) > MaxNameLength {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("volume name is too long (%d characters, at most %d)", len(name), MaxNameLength))
	}
	if !validName.MatchString(name) {
		msg := fmt.Sprintf("%q includes invalid characters for a local volume name, only %q are allowed", name, validNameChars)
		if strings.Contains(name, "/") {
			msg += ". If you intended to pass a host directory, use absolute path"
		}
		return cerrdefs.ErrInvalidArgument.WithMessage(msg)
	}
	for k := range opts {
		if _, ok := requiredWith[k]; !ok {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid option: %q", k))
		}
	}
	for k := range opts {
		for _, need := range requiredWith[k] {
			if _, ok := opts[need]; !ok {
				return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("missing required option: %q", need))
			}
		}
	}
	return nil
}

// Create makes the volume's directories. It succeeds on an existing
// directory so that a create retried after a crash does not fail.
func (d *Driver) Create(name string, _ map[string]string) error {
	dir := filepath.Join(d.root, name)
	if err := os.Mkdir(dir, 0o701); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("creating volume directory: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "_data"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		os.Remove(dir)
		return fmt.Errorf("creating volume directory: %w", err)
	}
	return nil
}

// Remove deletes the volume's directory, unmounting it first if needed.
func (d *Driver) Remove(name string) error {
	d.mu.Lock()
	if _, ok := d.mounts[name]; ok {
		if err := mount.Unmount(d.Path(name)); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("unmounting volume: %w", err)
		}
		delete(d.mounts, name)
	}
	d.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(d.root, name)); err != nil {
		return fmt.Errorf("removing volume directory: %w", err)
	}
	return nil
}

// List returns the names of the volume directories on disk, so the store can
// reconcile them with its metadata at start.
func (d *Driver) List() ([]string, error) {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Mount makes the volume's data available at Path for ref and returns the
// path. Volumes with a device are mounted on the first reference only; a
// mount adopted from a previous run (New) counts as made.
func (d *Driver) Mount(name string, opts map[string]string, ref string) (string, error) {
	path := d.Path(name)
	if opts["device"] == "" {
		return path, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	refs, mounted := d.mounts[name]
	if !mounted {
		if err := mount.Mount(opts["device"], path, opts["type"], opts["o"]); err != nil {
			return "", fmt.Errorf("failed to mount local volume: %s", hidePassword(err.Error(), opts["o"]))
		}
		refs = map[string]struct{}{}
		d.mounts[name] = refs
	}
	refs[ref] = struct{}{}
	return path, nil
}

// Unmount drops ref's use of the volume and unmounts it after the last one.
func (d *Driver) Unmount(name string, ref string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	refs, mounted := d.mounts[name]
	if !mounted {
		return nil
	}
	delete(refs, ref)
	if len(refs) > 0 {
		return nil
	}
	if err := mount.Unmount(d.Path(name)); err != nil {
		return fmt.Errorf("unmounting local volume: %w", err)
	}
	delete(d.mounts, name)
	return nil
}

// Mounted reports whether the volume's filesystem is mounted now.
func (d *Driver) Mounted(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.mounts[name]
	return ok
}

// Size is the size of the volume's data as Docker reports it: the apparent
// sizes of its regular files, each hard-linked inode counted once.
func (d *Driver) Size(ctx context.Context, name string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(d.Path(name), func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += info.Size()
		return nil
	})
	return size, err
}

// hidePassword keeps CIFS-style passwords out of error messages and logs.
func hidePassword(msg, o string) string {
	for _, kv := range strings.Split(o, ",") {
		if p, ok := strings.CutPrefix(kv, "password="); ok && p != "" {
			msg = strings.ReplaceAll(msg, "password="+p, "password=********")
		}
	}
	return msg
}
