package overlay2

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/graphdriver"
)

// features is what the support check found out about the host and root.
type features struct {
	backingFs  string // "extfs", "xfs", ...
	mountOpts  string // prefix for every mount's data, e.g. "index=off,"
	nativeDiff bool   // the upper dir alone is the layer's diff
	metacopy   bool   // files may be metadata-only copy-ups
	volatile   bool   // mounts may skip syncs (Linux 5.10+; GetEphemeral)
}

// Supported reports whether overlay2 can keep its layers in root: the
// kernel has overlayfs (loading the module if it can), root's filesystem
// fills in d_type and is one overlay accepts as upper layer, and a real
// overlay mount in a temporary directory under root works, whiteouts and
// opaque directories included. root is created if missing. The error wraps
// graphdriver.ErrNotSupported and says why.
func Supported(root string) error {
	_, err := check(root)
	return err
}

func notSupported(format string, args ...any) error {
	return fmt.Errorf("overlay2: %w: %s", graphdriver.ErrNotSupported, fmt.Sprintf(format, args...))
}

func check(root string) (*features, error) {
	if err := ensureOverlayModule(); err != nil {
		return nil, err
	}
	if userns.RunningInUserNS() {
		return nil, notSupported("running in a user namespace (rootless overlay is not implemented)")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, fmt.Errorf("overlay2: statfs %s: %w", root, err)
	}
	f := &features{backingFs: fsName(int64(st.Type))}
	switch f.backingFs {
	case "overlayfs", "aufs", "ecryptfs":
		return nil, notSupported("%s is on %s, which overlay cannot use as its upper layer (give the data root its own filesystem or a volume)", root, f.backingFs)
	}

	tmp, err := os.MkdirTemp(root, checkDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("overlay2: %w", err)
	}
	defer os.RemoveAll(tmp)

	ok, err := supportsDType(tmp)
	if err != nil {
		return nil, fmt.Errorf("overlay2: checking d_type on %s: %w", root, err)
	}
	if !ok {
		return nil, notSupported("the %s filesystem under %s does not support d_type (for xfs, reformat with ftype=1)", f.backingFs, root)
	}

	// Options we always pass, when the kernel knows them: index=off so a
	// lower layer may be shared by any number of mounts; redirect_dir=off
	// and metacopy=off so that a layer's upper directory alone is its
	// complete diff (what Diff tars up).
	for _, o := range []string{"index", "redirect_dir", "metacopy"} {
		if _, err := os.Stat("/sys/module/overlay/parameters/" + o); err == nil {
			f.mountOpts += o + "=off,"
		}
	}
	if err := testMount(tmp, f); err != nil {
		return nil, err
	}
	return f, nil
}

// ensureOverlayModule checks /proc/filesystems for overlay and, failing
// that, tries modprobe.
func ensureOverlayModule() error {
	if haveOverlay() {
		return nil
	}
	reason := "modprobe not found"
	if p, err := exec.LookPath("modprobe"); err == nil {
		if out, err := exec.Command(p, "overlay").CombinedOutput(); err != nil {
			reason = fmt.Sprintf("modprobe overlay: %v: %s", err, bytes.TrimSpace(out))
		} else if haveOverlay() {
			return nil
		} else {
			reason = "still missing after modprobe overlay"
		}
	}
	return notSupported("overlay is not in /proc/filesystems (%s)", reason)
}

func haveOverlay() bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 0 && fields[len(fields)-1] == "overlay" {
			return true
		}
	}
	return false
}

// testMount mounts an overlay of two lower directories in dir and checks
// that a write, a whiteout and an opaque directory land in the upper
// directory as the driver expects. It also finds out whether a directory
// rename leaves a redirect behind (then the upper directory is not a
// complete diff and Diff must compare mounted trees instead).
func testMount(dir string, f *features) error {
	p := func(s ...string) string { return filepath.Join(append([]string{dir}, s...)...) }
	for _, d := range []string{"l1", "l2/gone-dir", "l2/moved", "upper", "work", "merged"} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return fmt.Errorf("overlay2: %w", err)
		}
	}
	for _, file := range []string{"l1/file", "l2/deleted", "l2/gone-dir/x", "l2/moved/y"} {
		if err := os.WriteFile(p(file), []byte("x"), 0o644); err != nil {
			return fmt.Errorf("overlay2: %w", err)
		}
	}
	// Volatile first: it finds out whether the kernel has the option, and
	// its unmount does not sync the data root's filesystem (10 ms at a
	// first start here).
	data := fmt.Sprintf("%slowerdir=%s:%s,upperdir=%s,workdir=%s", f.mountOpts, p("l1"), p("l2"), p("upper"), p("work"))
	f.volatile = true
	if err := unix.Mount("overlay", p("merged"), "overlay", 0, "volatile,"+data); err != nil {
		f.volatile = false
		if err := unix.Mount("overlay", p("merged"), "overlay", 0, data); err != nil {
			return notSupported("test mount on %s failed: %v", f.backingFs, err)
		}
	}
	defer func() { _ = unmount(p("merged")) }()

	m := func(s string) string { return p("merged", s) }
	if err := os.WriteFile(m("new"), []byte("y"), 0o644); err != nil {
		return notSupported("writing through a test mount: %v", err)
	}
	if err := os.Remove(m("deleted")); err != nil {
		return notSupported("deleting through a test mount: %v", err)
	}
	if err := os.RemoveAll(m("gone-dir")); err != nil {
		return notSupported("deleting through a test mount: %v", err)
	}
	if err := os.Mkdir(m("gone-dir"), 0o755); err != nil {
		return notSupported("creating a directory through a test mount: %v", err)
	}
	if fi, err := os.Lstat(p("upper", "deleted")); err != nil || !isWhiteout(fi) {
		return notSupported("a deletion on %s did not leave a 0/0 character device whiteout (%v)", f.backingFs, err)
	}
	if !isOpaque(p("upper", "gone-dir")) {
		return notSupported("a recreated directory on %s was not marked opaque (trusted xattrs unsupported?)", f.backingFs)
	}

	f.nativeDiff = true
	switch err := os.Rename(m("moved"), m("moved2")); {
	case errors.Is(err, syscall.EXDEV):
		// Redirects are off: renaming a lower directory copies it.
	case err != nil:
		return notSupported("renaming in a test mount: %v", err)
	default:
		if v, _ := lgetxattr(p("upper", "moved2"), "trusted.overlay.redirect"); v != nil {
			f.nativeDiff = false
		}
	}
	// metacopy stays false: either the kernel has no metacopy or we
	// passed metacopy=off.
	return nil
}

// supportsDType reports whether readdir in dir fills in d_type (overlay
// needs it to find whiteouts).
func supportsDType(dir string) (bool, error) {
	if err := os.WriteFile(filepath.Join(dir, "d_type"), nil, 0o600); err != nil {
		return false, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return false, err
		}
		if n <= 0 {
			return false, errors.New("test file not found by getdents")
		}
		// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
		for off := 0; off+19 < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 {
				break
			}
			name := buf[off+19 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if string(name) == "d_type" {
				return buf[off+18] != unix.DT_UNKNOWN, nil
			}
			off += reclen
		}
	}
}

// fsName names a filesystem magic number as Docker's `docker info` does.
func fsName(magic int64) string {
	names := map[int64]string{
		0xEF53:     "extfs",
		0x58465342: "xfs",
		0x9123683E: "btrfs",
		0x01021994: "tmpfs",
		0x794C7630: "overlayfs",
		0x61756673: "aufs",
		0xF15F:     "ecryptfs",
		0x2FC12FC1: "zfs",
		0x6969:     "nfs",
		0xF2F52010: "f2fs",
		0x65735546: "fuse",
		0x858458F6: "ramfs",
		0x52654973: "reiserfs",
		0x73717368: "squashfs",
		0x5346414F: "afs",
		0xFF534D42: "cifs",
		0x01021997: "v9fs",
	}
	if n, ok := names[magic]; ok {
		return n
	}
	return fmt.Sprintf("<unknown 0x%x>", magic)
}
