package tarexport

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// extract unpacks the tar stream in into root. Only directories, regular files, symlinks and
// hard links are created (docker save writes symlinks between identical layer tars); anything
// else is skipped. Names are confined to root: os.Root refuses any path, or symlink, that
// leads out of it. Errors of the input are invalid-argument errors.
//
// The archive must end with its end-of-archive marker (Go's tar reader does not insist): an
// archive cut at the boundary of an entry is truncated too.
//
// A regular file that spec wants registered on the side is copied to it too (see speculate.go).
func extract(ctx context.Context, in *inputReader, root *os.Root, spec *speculator) error {
	tail := &tailReader{r: in}
	tr := tar.NewReader(tail)
	buf := make([]byte, bufSize)
	inputErr := func(err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return invalidf("invalid archive: %v", err)
	}
	// Failing to create an entry is the archive's fault (a name that is both a file and a
	// directory, a link out of the archive…) unless the disk is.
	entryErr := func(name string, err error) error {
		for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, syscall.ENOMEM} {
			if errors.Is(err, e) {
				return fmt.Errorf("extracting %s: %w", name, err)
			}
		}
		return invalidf("invalid archive: entry %s: %v", name, err)
	}
	madeDirs := map[string]bool{".": true}
	mkdirAll := func(dir string) error {
		if madeDirs[dir] {
			return nil
		}
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		madeDirs[dir] = true
		return nil
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if !tail.zero() {
				return inputErr(errors.New("the archive has no end-of-archive marker: it is truncated"))
			}
			return nil
		}
		if err != nil {
			return inputErr(err)
		}
		name, err := cleanArchivePath(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := mkdirAll(name); err != nil {
				return entryErr(name, err)
			}
			continue
		case tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
		default:
			continue
		}
		if err := mkdirAll(path.Dir(name)); err != nil {
			return entryErr(name, err)
		}
		// A later entry of the same name replaces the earlier one, and must not write
		// through it if it was a symlink.
		if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return entryErr(name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return entryErr(name, err)
			}
		case tar.TypeLink:
			target, err := cleanArchivePath(hdr.Linkname)
			if err != nil {
				return err
			}
			if err := root.Link(target, name); err != nil {
				return entryErr(name, err)
			}
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return entryErr(name, err)
			}
			var dst io.Writer = f
			sp := spec.begin(name, hdr.Size)
			if sp != nil {
				dst = &notifyingWriter{w: f, sp: sp}
			}
			_, werr := copyBuffer(dst, tr, buf)
			cerr := f.Close()
			if werr == nil {
				werr = cerr
			}
			if sp != nil {
				sp.end(werr)
			}
			if werr != nil {
				if in.failed() != nil || errors.Is(werr, io.ErrUnexpectedEOF) || errors.Is(werr, tar.ErrHeader) {
					return inputErr(werr)
				}
				return fmt.Errorf("extracting %s: %w", name, werr)
			}
		}
	}
}

// copyBuffer is io.CopyBuffer without its ReaderFrom/WriterTo shortcuts, whose buffers are
// small (an *os.File's ReadFrom a tar.Reader would copy 32 KiB at a time).
func copyBuffer(dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// cleanArchivePath turns a name in an archive (or in its manifest) into a clean relative
// path, refusing absolute paths and paths that climb out with "..".
func cleanArchivePath(p string) (string, error) {
	orig := p
	p = strings.TrimLeft(p, "/")
	if strings.Contains(p, "\\") {
		p = strings.ReplaceAll(p, "\\", "/")
	}
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", invalidf("invalid archive: path %q leaves the archive", orig)
	}
	if p == "" {
		p = "."
	}
	return p, nil
}

// tailReader remembers the last block of what was read through it.
type tailReader struct {
	r    io.Reader
	tail [512]byte
	n    int64
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n >= len(t.tail) {
		copy(t.tail[:], p[n-len(t.tail):n])
	} else if n > 0 {
		copy(t.tail[:], t.tail[n:])
		copy(t.tail[len(t.tail)-n:], p[:n])
	}
	t.n += int64(n)
	return n, err
}

// zero reports whether the last block read was all zeros (a tar's end-of-archive marker).
func (t *tailReader) zero() bool {
	if t.n < int64(len(t.tail)) {
		return false
	}
	for _, b := range t.tail {
		if b != 0 {
			return false
		}
	}
	return true
}

// notifyingWriter tells a speculation what was written of its file.
type notifyingWriter struct {
	w  io.Writer
	sp *speculation
}

func (n *notifyingWriter) Write(p []byte) (int, error) {
	c, err := n.w.Write(p)
	n.sp.wrote(c)
	return c, err
}
