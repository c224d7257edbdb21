package overlay2

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/go-archive"
	"golang.org/x/sys/unix"
)

const opaqueXattr = "trusted.overlay.opaque"

// isWhiteout reports whether fi is an overlay whiteout: a character
// device numbered 0/0.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

func isOpaque(dir string) bool {
	v, _ := lgetxattr(dir, opaqueXattr)
	return bytes.Equal(v, []byte("y"))
}

// lgetxattr returns the value of attr on path, nil if it has none.
func lgetxattr(path, attr string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(path, attr, buf)
		switch {
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, len(buf)*4)
			continue
		case err != nil:
			return nil, &os.PathError{Op: "lgetxattr", Path: path, Err: err}
		}
		return buf[:n], nil
	}
}

// overlayChanges lists the changes an overlay upper directory makes to the
// filesystem mounted (or lying) at lowerFS ("" when there is none), as
// archive.ChangesDirs would list them comparing the two mounted trees:
// whiteouts of existing paths are deletions, an opaque directory deletes
// what it hides, a path the lower filesystem has is modified (directories
// only when their mode or owner changed), other paths are added, and every
// directory holding a change is itself listed as modified.
func overlayChanges(upper, lowerFS string) ([]archive.Change, error) {
	var changes []archive.Change
	listed := make(map[string]bool)
	var emit func(path string, kind archive.ChangeType)
	emit = func(path string, kind archive.ChangeType) {
		if listed[path] {
			return
		}
		if parent := filepath.Dir(path); parent != "/" && !listed[parent] {
			emit(parent, archive.ChangeModify)
		}
		listed[path] = true
		changes = append(changes, archive.Change{Path: path, Kind: kind})
	}
	lstatLower := func(path string) (fs.FileInfo, error) {
		if lowerFS == "" {
			return nil, nil
		}
		fi, err := os.Lstat(lowerFS + path)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return fi, err
	}

	err := filepath.WalkDir(upper, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		path := p[len(upper):]
		if path == "" {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		lfi, err := lstatLower(path)
		if err != nil {
			return err
		}
		switch {
		case isWhiteout(fi):
			if lfi != nil {
				emit(path, archive.ChangeDelete)
			}
		case lfi == nil:
			emit(path, archive.ChangeAdd)
		case fi.IsDir() && lfi.IsDir():
			if statDifferent(lfi, fi) {
				emit(path, archive.ChangeModify)
			}
			if isOpaque(p) {
				entries, err := os.ReadDir(lowerFS + path)
				if err != nil {
					return err
				}
				for _, e := range entries {
					child := filepath.Join(path, e.Name())
					if _, err := os.Lstat(upper + child); errors.Is(err, fs.ErrNotExist) {
						emit(child, archive.ChangeDelete)
					} else if err != nil {
						return err
					}
				}
			}
		default:
			emit(path, archive.ChangeModify)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// statDifferent is archive's test for a changed entry present in both
// trees: mode, owner or device, and for non-directories size or mtime.
func statDifferent(a, b fs.FileInfo) bool {
	sa, _ := a.Sys().(*syscall.Stat_t)
	sb, _ := b.Sys().(*syscall.Stat_t)
	if sa == nil || sb == nil {
		return true
	}
	if a.Mode() != b.Mode() || sa.Uid != sb.Uid || sa.Gid != sb.Gid || sa.Rdev != sb.Rdev {
		return true
	}
	return !a.IsDir() && (a.Size() != b.Size() || !sameFsTime(a.ModTime(), b.ModTime()))
}

// sameFsTime treats times equal to the second as equal when either has no
// sub-second part (tar may have rounded it away).
func sameFsTime(a, b time.Time) bool {
	return a.Equal(b) || (a.Unix() == b.Unix() && (a.Nanosecond() == 0 || b.Nanosecond() == 0))
}
