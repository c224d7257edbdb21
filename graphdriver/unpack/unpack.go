// Package unpack applies layer tar diffs to a directory quickly and safely.
//
// It replaces go-archive's UnpackLayer / Unpack (which re-walk every path
// through os.Root for each syscall) with extraction relative to cached
// directory file descriptors. Directories are looked up from the layer root
// with openat2(2) RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, so symlinks in a
// parent path (absolute or relative, chained or not) resolve inside the
// layer as in a chroot; every entry is then created, replaced or changed by
// its last path component relative to its parent's descriptor, without
// following a symlink there (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, symlinkat,
// mknodat, linkat without AT_SYMLINK_FOLLOW).
//
// The semantics are go-archive's: Deletions is archive.UnpackLayer (whiteouts
// and opaque markers applied as deletions), Overlay is archive.Unpack with
// archive.OverlayWhiteoutFormat (whiteouts become 0:0 character devices,
// opaque markers the overlay opaque xattr). Entries go-archive would handle
// specially and this package does not (AUFS hard link directories, ID maps)
// make Apply fail rather than guess. Where openat2 is not available Apply
// falls back to go-archive.
package unpack

import (
	"archive/tar"
	"bufio"
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// Format says what to do with whiteout entries.
type Format int

const (
	// Deletions applies `.wh.<name>` and `.wh..wh..opq` entries as
	// deletions, as archive.UnpackLayer does.
	Deletions Format = iota
	// Overlay converts them to overlayfs whiteouts (0:0 character devices)
	// and opaque directories (trusted.overlay.opaque=y), as archive.Unpack
	// with archive.OverlayWhiteoutFormat does.
	Overlay
)

const (
	whiteoutPrefix     = archive.WhiteoutPrefix     // ".wh."
	whiteoutMetaPrefix = archive.WhiteoutMetaPrefix // ".wh..wh."
	whiteoutLinkDir    = archive.WhiteoutLinkDir    // ".wh..wh.plnk"
	whiteoutOpaqueDir  = archive.WhiteoutOpaqueDir  // ".wh..wh..opq"

	readBufSize  = 1 << 20
	copyBufSize  = 1 << 20
	dirCacheSize = 64
)

var (
	haveOpenat2 bool
	probeOnce   sync.Once
)

// Available reports whether the fast extractor can run (openat2 with
// RESOLVE_IN_ROOT works); when it cannot, Apply uses go-archive.
func Available() bool {
	probeOnce.Do(func() {
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == nil {
			_ = unix.Close(fd)
			haveOpenat2 = true
		}
	})
	return haveOpenat2
}

// Buffered returns r if it is an io.ByteReader, which by the convention
// compress/flate also follows serves small reads from memory (a
// bufio.Reader does), else r behind a large bufio.Reader: tar reads its
// headers 512 bytes at a time, and an unbuffered pipe or file would cost a
// system call for each.
func Buffered(r io.Reader) io.Reader {
	if _, ok := r.(io.ByteReader); ok {
		return r
	}
	return bufio.NewReaderSize(r, readBufSize)
}

// Apply extracts the layer tar read from r into directory dst and returns
// the sum of the sizes in the entries' headers (what archive.UnpackLayer
// returns). It does not read r past the end of the tar archive except
// for buffering.
func Apply(dst string, r io.Reader, format Format) (int64, error) {
	if !Available() {
		if format == Overlay {
			return 0, archive.Unpack(r, dst, &archive.TarOptions{WhiteoutFormat: archive.OverlayWhiteoutFormat})
		}
		return archive.UnpackLayer(dst, r, &archive.TarOptions{})
	}
	r = Buffered(r)
	rootfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: dst, Err: err}
	}
	u := &unpacker{
		dst:      dst,
		format:   format,
		root:     rootfd,
		cache:    newDirCache(dirCacheSize),
		buf:      make([]byte, copyBufSize),
		unpacked: make(map[string]struct{}),
	}
	if format == Overlay {
		u.opaqueXattr = "trusted.overlay.opaque"
		if userns.RunningInUserNS() {
			u.opaqueXattr = "user.overlay.opaque"
		}
	}
	defer u.close()
	return u.run(tar.NewReader(r))
}

type unpackedDir struct {
	name         string
	atime, mtime time.Time
}

type unpacker struct {
	dst         string
	format      Format
	root        int
	cache       *dirCache
	buf         []byte
	dirs        []unpackedDir
	unpacked    map[string]struct{} // Deletions: paths written by this layer
	opaqueXattr string
}

func (u *unpacker) close() {
	u.cache.flush()
	u.cache.closePending()
	_ = unix.Close(u.root)
}

func (u *unpacker) run(tr *tar.Reader) (int64, error) {
	var size int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		size += hdr.Size
		err = u.entry(tr, hdr)
		u.cache.closePending()
		if err != nil {
			return 0, err
		}
	}
	for _, d := range u.dirs {
		pfd, err := u.dir(path.Dir(d.name), false)
		if err == nil {
			err = setTimes(pfd, path.Base(d.name), d.atime, d.mtime)
		}
		u.cache.closePending()
		if err != nil {
			return 0, fmt.Errorf("setting times of %s: %w", d.name, err)
		}
	}
	return size, nil
}

func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
	if name == "." {
		return nil
	}
	if !local(name) {
		return breakout("invalid entry name %q", hdr.Name)
	}
	dir, base := path.Dir(name), path.Base(name)

	if u.format == Deletions && strings.HasPrefix(name, whiteoutMetaPrefix) {
		if strings.HasPrefix(name, whiteoutLinkDir) && hdr.Typeflag == tar.TypeReg {
			return fmt.Errorf("unpack: AUFS hard link directory entry %q is not supported", hdr.Name)
		}
		if name != whiteoutOpaqueDir {
			return nil
		}
	}

	pfd, err := u.dir(dir, true)
	if err != nil {
		return err
	}

	if orig, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
		if u.format == Overlay && base != whiteoutOpaqueDir {
			// archive.Unpack replaces an existing entry at the whiteout
			// file's own path before converting it.
			if err := u.replace(pfd, dir, base, false); err != nil {
				return err
			}
		}
		return u.whiteout(pfd, dir, orig, hdr)
	}

	if err := u.replace(pfd, dir, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	if pfd, err = u.dir(dir, false); err != nil { // replace may have flushed the cache
		return err
	}
	if err := u.create(pfd, name, base, hdr, tr); err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	if hdr.Typeflag == tar.TypeDir {
		u.dirs = append(u.dirs, unpackedDir{name: name, atime: boundTime(latest(hdr.AccessTime, hdr.ModTime)), mtime: boundTime(hdr.ModTime)})
	}
	if u.format == Deletions {
		u.unpacked[name] = struct{}{}
	}
	return nil
}

// replace removes whatever is at base in pfd unless both it and the new
// entry are directories.
func (u *unpacker) replace(pfd int, dir, base string, isDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "lstat", Path: path.Join(dir, base), Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR && isDir {
		return nil
	}
	return u.removeAll(pfd, dir, base, st.Mode)
}

// removeAll removes base (of type mode) from pfd, recursively, without
// following symlinks. Removing a directory or a symlink invalidates every
// cached directory descriptor, which may have been reached through it.
func (u *unpacker) removeAll(pfd int, dir, base string, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		u.cache.flush()
		if err := removeTree(pfd, base); err != nil {
			return &os.PathError{Op: "remove", Path: path.Join(dir, base), Err: err}
		}
		return nil
	case unix.S_IFLNK:
		u.cache.flush()
	}
	if err := unix.Unlinkat(pfd, base, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: path.Join(dir, base), Err: err}
	}
	return nil
}

func removeTree(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	names, err := f.Readdirnames(-1)
	if err != nil {
		_ = f.Close()
		return err
	}
	for _, n := range names {
		if err := unix.Unlinkat(fd, n, 0); err == nil || errors.Is(err, unix.ENOENT) {
			continue
		} else if !errors.Is(err, unix.EISDIR) {
			_ = f.Close()
			return err
		}
		if err := removeTree(fd, n); err != nil {
			_ = f.Close()
			return err
		}
	}
	_ = f.Close()
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
}

func (u *unpacker) whiteout(pfd int, dir, orig string, hdr *tar.Header) error {
	if u.format == Overlay {
		switch orig {
		case "", ".", "..":
			return fmt.Errorf("invalid whiteout entry %q", hdr.Name)
		case whiteoutOpaqueDir[len(whiteoutPrefix):]:
			if err := unix.Fsetxattr(pfd, u.opaqueXattr, []byte{'y'}, 0); err != nil {
				return fmt.Errorf("fsetxattr(%q, %s=y): %w", dir, u.opaqueXattr, err)
			}
			return nil
		}
		if err := unix.Mknodat(pfd, orig, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknod whiteout", Path: path.Join(dir, orig), Err: err}
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			if err := unix.Fchownat(pfd, orig, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return &os.PathError{Op: "lchown", Path: path.Join(dir, orig), Err: err}
			}
		}
		return nil
	}

	if orig == whiteoutOpaqueDir[len(whiteoutPrefix):] {
		return u.opaque(pfd, dir)
	}
	switch orig {
	case "", ".", "..":
		return fmt.Errorf("invalid whiteout entry %q", hdr.Name)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, orig, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "lstat", Path: path.Join(dir, orig), Err: err}
	}
	return u.removeAll(pfd, dir, orig, st.Mode)
}

// opaque removes everything under dir (whose descriptor is dfd) that this
// layer did not write, descending into the directories it did write.
func (u *unpacker) opaque(dfd int, dir string) error {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := path.Join(dir, n)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return &os.PathError{Op: "lstat", Path: rel, Err: err}
		}
		if _, kept := u.unpacked[rel]; !kept {
			if err := u.removeAll(fd, dir, n, st.Mode); err != nil {
				return err
			}
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: rel, Err: err}
		}
		err = u.opaque(sub, rel)
		_ = unix.Close(sub)
		if err != nil {
			return err
		}
	}
	return nil
}

// create makes the entry base (full name name) in pfd, where nothing is.
func (u *unpacker) create(pfd int, name, base string, hdr *tar.Header, r io.Reader) error {
	mode := uint32(hdr.Mode) & 0o7777
	fd := -1 // an open descriptor of the new entry, when there is one
	defer func() {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}()
	var linkIsSymlink bool // TypeLink to a symlink: leave mode and times

	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err := unix.Mkdirat(pfd, base, mode&0o777); err != nil {
				return &os.PathError{Op: "mkdir", Path: name, Err: err}
			}
		}
		dfd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: name, Err: err}
		}
		if fd, err = unix.Dup(dfd); err != nil {
			_ = unix.Close(dfd)
			return err
		}
		u.cache.put(name, dfd)

	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA is still seen in old tars
		var err error
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode&0o777)
		if err != nil {
			return &os.PathError{Op: "create", Path: name, Err: err}
		}
		if err := u.copy(fd, r); err != nil {
			return &os.PathError{Op: "write", Path: name, Err: err}
		}

	case tar.TypeBlock, tar.TypeChar, tar.TypeFifo:
		typ := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeBlock:
			typ = unix.S_IFBLK
		case tar.TypeChar:
			typ = unix.S_IFCHR
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, typ|mode&0o777, int(dev)); err != nil {
			return &os.PathError{Op: "mknod", Path: name, Err: err}
		}

	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlink", Path: name, Err: err}
		}

	case tar.TypeLink:
		target := path.Clean(hdr.Linkname)
		if strings.HasPrefix(target, "/") {
			target = path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
		}
		if target == "." || !local(target) {
			return breakout("invalid hardlink target %q", hdr.Linkname)
		}
		tpfd, err := u.dir(path.Dir(target), false)
		if err != nil {
			return err
		}
		tbase := path.Base(target)
		var st unix.Stat_t
		if err := unix.Fstatat(tpfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: target, Err: err}
		}
		linkIsSymlink = st.Mode&unix.S_IFMT == unix.S_IFLNK
		// Both descriptors may be evicted from the cache by the other
		// lookup, but evicted descriptors stay open until the entry is done.
		if pfd, err = u.dir(path.Dir(name), false); err != nil {
			return err
		}
		if err := unix.Linkat(tpfd, tbase, pfd, base, 0); err != nil {
			return &os.LinkError{Op: "link", Old: target, New: name, Err: err}
		}

	default:
		return fmt.Errorf("unhandled tar header type %d", hdr.Typeflag)
	}

	// Owner, then xattrs, then mode (chown clears setuid bits), then times.
	if fd >= 0 {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("failed to Lchown %q for UID %d, GID %d: %w", name, hdr.Uid, hdr.Gid, err)
		}
	} else if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("failed to Lchown %q for UID %d, GID %d: %w", name, hdr.Uid, hdr.Gid, err)
	}

	for key, value := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(key, "SCHILY.xattr.")
		if !ok {
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, attr, []byte(value), 0)
		} else {
			// The parent is a descriptor we hold, and the last
			// component is not followed.
			err = unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(pfd)+"/"+base, attr, []byte(value), 0)
		}
		if err != nil && !errors.Is(err, unix.EPERM) {
			return &os.PathError{Op: "lsetxattr " + attr, Path: name, Err: err}
		}
	}

	switch {
	case hdr.Typeflag == tar.TypeSymlink, hdr.Typeflag == tar.TypeLink && linkIsSymlink:
	case fd >= 0:
		if err := unix.Fchmod(fd, mode); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
	default:
		if err := chmodNoFollow(pfd, base, mode); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
	}

	if hdr.Typeflag == tar.TypeDir || linkIsSymlink {
		return nil // directories: after their contents
	}
	if err := setTimes(pfd, base, boundTime(latest(hdr.AccessTime, hdr.ModTime)), boundTime(hdr.ModTime)); err != nil {
		return &os.PathError{Op: "chtimes", Path: name, Err: err}
	}
	return nil
}

func (u *unpacker) copy(fd int, r io.Reader) error {
	for {
		n, rerr := r.Read(u.buf)
		for off := 0; off < n; {
			w, err := unix.Write(fd, u.buf[off:n])
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return err
			}
			off += w
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// chmodNoFollow changes the mode of a non-symlink entry base of pfd.
func chmodNoFollow(pfd int, base string, mode uint32) error {
	err := unix.Fchmodat(pfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	// No fchmodat2: the entry was just created by us as a non-symlink
	// in a directory we hold; check again and change it.
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return unix.Fchmodat(pfd, base, mode, 0)
}

func setTimes(pfd int, base string, atime, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// dir returns a descriptor of directory rel (cleaned, relative to the
// root), resolved inside the root. With create, missing directories are
// made (mode 0755, as archive's implied directories). The descriptor
// belongs to the cache and stays valid until the current entry is done.
func (u *unpacker) dir(rel string, create bool) (int, error) {
	if rel == "." {
		return u.root, nil
	}
	if fd, ok := u.cache.get(rel); ok {
		return fd, nil
	}
	var fd int
	var err error
	for range 16 {
		fd, err = unix.Openat2(u.root, rel, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err == nil {
		u.cache.put(rel, fd)
		return fd, nil
	}
	if !create || !errors.Is(err, unix.ENOENT) {
		return -1, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	pfd, err := u.dir(path.Dir(rel), true)
	if err != nil {
		return -1, err
	}
	base := path.Base(rel)
	made := true
	if err := unix.Mkdirat(pfd, base, archive.ImpliedDirectoryMode); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			return -1, &os.PathError{Op: "mkdir", Path: rel, Err: err}
		}
		made = false
	}
	// A dangling symlink here (whose target openat2 did not find) is not
	// followed: that fails, as anything this package does not handle.
	fd, err = unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	if made {
		if err := unix.Fchmod(fd, archive.ImpliedDirectoryMode); err != nil {
			_ = unix.Close(fd)
			return -1, &os.PathError{Op: "chmod", Path: rel, Err: err}
		}
	}
	u.cache.put(rel, fd)
	return fd, nil
}

// dirCache is an LRU of open directory descriptors keyed by relative path.
// Evicted and flushed descriptors are closed by closePending, so that a
// descriptor handed out stays valid while an entry is processed.
type dirCache struct {
	max     int
	lru     *list.List // of *cacheEntry, most recent first
	byPath  map[string]*list.Element
	pending []int
}

type cacheEntry struct {
	path string
	fd   int
}

func newDirCache(max int) *dirCache {
	return &dirCache{max: max, lru: list.New(), byPath: make(map[string]*list.Element)}
}

func (c *dirCache) get(p string) (int, bool) {
	el, ok := c.byPath[p]
	if !ok {
		return -1, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).fd, true
}

func (c *dirCache) put(p string, fd int) {
	if el, ok := c.byPath[p]; ok {
		c.pending = append(c.pending, el.Value.(*cacheEntry).fd)
		el.Value.(*cacheEntry).fd = fd
		c.lru.MoveToFront(el)
		return
	}
	c.byPath[p] = c.lru.PushFront(&cacheEntry{path: p, fd: fd})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.byPath, e.path)
		c.pending = append(c.pending, e.fd)
	}
}

func (c *dirCache) flush() {
	for el := c.lru.Front(); el != nil; el = el.Next() {
		c.pending = append(c.pending, el.Value.(*cacheEntry).fd)
	}
	c.lru.Init()
	clear(c.byPath)
}

func (c *dirCache) closePending() {
	for _, fd := range c.pending {
		_ = unix.Close(fd)
	}
	c.pending = c.pending[:0]
}

// local reports whether the cleaned slash path p stays below its root.
func local(p string) bool {
	return p != ".." && !strings.HasPrefix(p, "../") && !strings.HasPrefix(p, "/") && p != ""
}

// ErrBreakout marks entries whose path or hard link target leaves the root.
var ErrBreakout = errors.New("path escapes the layer root")

func breakout(format string, args ...any) error {
	return fmt.Errorf("unpack: %s: %w", fmt.Sprintf(format, args...), ErrBreakout)
}

var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, 1<<63-1)
)

func boundTime(t time.Time) time.Time {
	if t.Before(minTime) || t.After(maxTime) {
		return minTime
	}
	return t
}

func latest(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
