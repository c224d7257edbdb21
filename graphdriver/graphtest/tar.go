package graphtest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"testing"
	"time"
)

// Epoch is the modification time of entries built by Tar unless set.
var Epoch = time.Date(2021, 6, 1, 12, 0, 0, 0, time.UTC)

// Entry describes one tar entry for Tar. Type defaults to a regular file
// (or a directory when Name ends in "/"); Mode defaults to 0644, 0755 for
// directories, 0777 for symlinks.
type Entry struct {
	Name     string
	Type     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock, TypeFifo
	Body     string
	Linkname string
	Mode     int64
	UID, GID int
	Major    int64
	Minor    int64
	ModTime  time.Time
	Xattrs   map[string]string // written as SCHILY.xattr. PAX records
}

// File, Dir, Symlink, Hardlink and Whiteout are Entry shorthands.
func File(name, body string) Entry { return Entry{Name: name, Body: body} }

// Dir is a directory entry.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link entry name -> target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink is a hard link entry name -> target (an earlier entry).
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout deletes p (a `.wh.` entry).
func Whiteout(p string) Entry {
	return File(path.Join(path.Dir(p), ".wh."+path.Base(p)), "")
}

// Opaque marks directory dir opaque (a `.wh..wh..opq` entry).
func Opaque(dir string) Entry { return File(path.Join(dir, ".wh..wh..opq"), "") }

// Tar builds an uncompressed tar of entries.
func Tar(tb testing.TB, entries ...Entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.Name,
			Typeflag: e.Type,
			Linkname: e.Linkname,
			Mode:     e.Mode,
			Uid:      e.UID,
			Gid:      e.GID,
			Devmajor: e.Major,
			Devminor: e.Minor,
			ModTime:  e.ModTime,
			Format:   tar.FormatPAX,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
			if len(e.Name) > 0 && e.Name[len(e.Name)-1] == '/' {
				hdr.Typeflag = tar.TypeDir
			}
		}
		if hdr.Mode == 0 {
			switch hdr.Typeflag {
			case tar.TypeDir:
				hdr.Mode = 0o755
			case tar.TypeSymlink:
				hdr.Mode = 0o777
			default:
				hdr.Mode = 0o644
			}
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = Epoch
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		for k, v := range e.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatalf("tar header %s: %v", e.Name, err)
		}
		if hdr.Size > 0 {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TarNames lists the entry names of a tar stream and closes it.
func TarNames(rc io.ReadCloser) ([]string, error) {
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return names, err
		}
		names = append(names, hdr.Name)
	}
}

// WriteMixedTar writes to w an uncompressed layer of about size bytes of
// incompressible content shaped like a real image layer: 64 directories
// two deep holding many small files (up to 16 KiB, ~15% of the bytes),
// fewer medium ones (up to 1 MiB, ~35%) and a few large ones (up to
// 8 MiB, ~50%), plus some symlinks and hard links. The same seed gives the
// same tar. It returns the number of entries.
func WriteMixedTar(w io.Writer, size int64, seed uint64) (int, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var key [32]byte
	for i := range key {
		key[i] = byte(rng.Uint32())
	}
	content := rand.NewChaCha8(key)

	var files []int64
	classes := []struct {
		share    int64 // percent of bytes
		min, max int64
	}{
		{15, 512, 16 << 10},
		{35, 16 << 10, 1 << 20},
		{50, 1 << 20, 8 << 20},
	}
	for _, c := range classes {
		budget := size * c.share / 100
		for budget > 0 {
			n := min(c.min+rng.Int64N(c.max-c.min+1), budget)
			files = append(files, n)
			budget -= n
		}
	}
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })

	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	entries := 0
	write := func(hdr *tar.Header) error {
		if hdr.ModTime.IsZero() {
			hdr.ModTime = Epoch
		}
		hdr.Format = tar.FormatPAX
		entries++
		return tw.WriteHeader(hdr)
	}
	const top, sub = 16, 4
	dirName := func(i int) string { return fmt.Sprintf("d%02d/s%02d/", i/sub%top, i%sub) }
	for i := range top {
		if err := write(&tar.Header{Name: fmt.Sprintf("d%02d/", i), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return entries, err
		}
		for j := range sub {
			if err := write(&tar.Header{Name: dirName(i*sub + j), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				return entries, err
			}
		}
	}
	for i, n := range files {
		name := fmt.Sprintf("%sf%05d", dirName(i), i)
		mode := int64(0o644)
		if i%7 == 0 {
			mode = 0o755
		}
		if err := write(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: n}); err != nil {
			return entries, err
		}
		if _, err := io.CopyN(tw, content, n); err != nil {
			return entries, err
		}
		switch i % 50 {
		case 1:
			if err := write(&tar.Header{Name: name + ".sym", Typeflag: tar.TypeSymlink, Linkname: path.Base(name), Mode: 0o777}); err != nil {
				return entries, err
			}
		case 2:
			if err := write(&tar.Header{Name: name + ".hard", Typeflag: tar.TypeLink, Linkname: name, Mode: mode}); err != nil {
				return entries, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return entries, err
	}
	return entries, bw.Flush()
}

// MixedTarFile writes WriteMixedTar's layer of about size bytes to a file
// in dir and returns its path.
func MixedTarFile(tb testing.TB, dir string, size int64) string {
	tb.Helper()
	p := path.Join(dir, fmt.Sprintf("mixed-%d.tar", size))
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := WriteMixedTar(f, size, 1); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}
