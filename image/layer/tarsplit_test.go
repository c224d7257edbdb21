package layer

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// rawTar writes the headers as given, in the given format. A regular
// file's body is Size bytes, or the string in Linkname if there is one.
func rawTar(t testing.TB, format tar.Format, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, hp := range hdrs {
		h := *hp
		var body []byte
		if h.Typeflag == tar.TypeReg {
			body = bytes.Repeat([]byte{byte('a' + len(h.Name)%26)}, int(h.Size))
			if h.Linkname != "" {
				body, h.Size, h.Linkname = []byte(h.Linkname), int64(len(h.Linkname)), ""
			}
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime, h.Format = epoch, format
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func reg(name string, size int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size}
}

func regBody(name, body string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: body}
}

func dirHdr(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}
}

func symlinkHdr(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}

// Tars whose every byte comes back: formats, long names, links, odd
// names, empty files, entries a tar may repeat harmlessly.
func TestTarStreamReproduces(t *testing.T) {
	longDir := strings.Repeat("long-directory-name/", 8)
	long := longDir + "and-a-long-file-name.txt"
	cases := map[string][]byte{
		"ustar":          rawTar(t, tar.FormatUSTAR, dirHdr("a/"), reg("a/f", 1000), reg("a/empty", 0)),
		"gnu long names": rawTar(t, tar.FormatGNU, dirHdr(longDir), reg(long, 3000), symlinkHdr("sl", long)),
		"pax long names": rawTar(t, tar.FormatPAX, reg(long, 5000), reg("ünïcode ñame", 7)),
		"hard links": rawTar(t, tar.FormatPAX, reg("target", 700),
			&tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "target"},
			&tar.Header{Name: "d/link2", Typeflag: tar.TypeLink, Linkname: "target"}),
		"leading slash and dot": rawTar(t, tar.FormatPAX, dirHdr("./"), dirHdr("./x/"), reg("./x/f", 10), reg("/x/g", 20), reg("x//h", 30)),
		"same directory twice":  rawTar(t, tar.FormatPAX, dirHdr("d/"), reg("d/f", 10), dirHdr("d/"), dirHdr("./d")),
		"same content twice":    rawTar(t, tar.FormatPAX, regBody("f", "same"), regBody("f", "same")),
		"whiteouts":             rawTar(t, tar.FormatPAX, dirHdr("d/"), reg("d/.wh.gone", 0), reg("d/.wh..wh..opq", 0), reg("d/kept", 9)),
		"no end marker":         rawTar(t, tar.FormatUSTAR, reg("f", 500))[:1024],
		"trailing garbage":      append(rawTar(t, tar.FormatPAX, reg("f", 600)), "not a tar, but part of the diff"...),
		"large files":           rawTar(t, tar.FormatPAX, reg("big1", 3<<20+17), reg("small", 1), reg("big2", 5<<20)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			s := h.open(t)
			base := mustRegister(t, s, chainTars(t)[0], "")
			for _, parent := range []ChainID{"", base.ChainID()} {
				l := mustRegister(t, s, data, parent)
				if why := l.(*layerRef).unreproducible; why != "" {
					t.Fatalf("on %q: recorded as unreproducible: %s", parent, why)
				}
				if got := readAll(t, l); !bytes.Equal(got, data) {
					t.Fatalf("on %q: TarStream differs: %d bytes, want %d", parent, len(got), len(data))
				}
				if l.TarSize() != int64(len(data)) || l.DiffID().String() != sha(data) {
					t.Errorf("on %q: TarSize %d DiffID %s", parent, l.TarSize(), l.DiffID())
				}
			}
			// And after a restart.
			s.Close()
			s = h.open(t)
			for id, l := range s.Map() {
				if l.DiffID().String() == sha(data) && !bytes.Equal(readAll(t, l), data) {
					t.Errorf("layer %s: TarStream differs after a restart", id)
				}
			}
		})
	}
}

// A path under a symlink whose target is absolute is extracted as if the
// layer were the root; reading it back resolves it the same way.
func TestTarStreamAbsoluteSymlinkDirectory(t *testing.T) {
	s := newHarness(t).open(t)
	base := mustRegister(t, s, rawTar(t, tar.FormatPAX, dirHdr("usr/"), dirHdr("usr/lib/"), symlinkHdr("lib", "/usr/lib")), "")
	top := rawTar(t, tar.FormatPAX, regBody("lib/libfoo.so", "foo"), dirHdr("lib/sub/"), regBody("lib/sub/bar", "bar"))
	l := mustRegister(t, s, top, base.ChainID())
	if got := readAll(t, l); !bytes.Equal(got, top) {
		t.Fatalf("TarStream differs")
	}
}

// Diffs whose entries replace or delete earlier entries' content: the
// driver's copy has the last word, the original stream cannot be rebuilt
// from it. The layer registers and is usable; TarStream says why it
// cannot reproduce it. Nothing opens what is not a regular file.
func TestTarStreamNotReproducible(t *testing.T) {
	cases := map[string][]byte{
		"file twice":           rawTar(t, tar.FormatPAX, regBody("f", "first"), regBody("f", "second")),
		"file then directory":  rawTar(t, tar.FormatPAX, regBody("f", "first"), dirHdr("f/")),
		"directory then file":  rawTar(t, tar.FormatPAX, dirHdr("d/"), regBody("d/f", "inside"), regBody("d", "file now")),
		"deleted by whiteout":  rawTar(t, tar.FormatPAX, regBody("f", "first"), reg(".wh.f", 0)),
		"file then symlink":    rawTar(t, tar.FormatPAX, regBody("f", "first"), symlinkHdr("f", "/etc/passwd")),
		"file then fifo":       rawTar(t, tar.FormatPAX, regBody("f", "first"), &tar.Header{Name: "f", Typeflag: tar.TypeFifo}),
		"whiteout with a body": rawTar(t, tar.FormatPAX, regBody(".wh.f", "body")),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			s := h.open(t)
			type result struct {
				l   Layer
				err error
			}
			done := make(chan result)
			go func() {
				l, err := s.Register(bytes.NewReader(data), "")
				done <- result{l, err}
			}()
			var l Layer
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				l = r.l
			case <-time.After(20 * time.Second):
				t.Fatal("Register hangs")
			}
			if l.(*layerRef).unreproducible == "" {
				t.Fatal("not recorded as unreproducible")
			}
			_, err := l.TarStream()
			if !errors.Is(err, ErrDiffNotReproducible) || !cerrdefs.IsFailedPrecondition(err) {
				t.Errorf("TarStream: %v, want ErrDiffNotReproducible", err)
			}
			// It says so after a restart too.
			s.Close()
			s = h.open(t)
			got := s.Map()[l.ChainID()]
			if got == nil {
				t.Fatal("layer gone after restart")
			}
			if _, err := got.TarStream(); !errors.Is(err, ErrDiffNotReproducible) {
				t.Errorf("TarStream after restart: %v, want ErrDiffNotReproducible", err)
			}
		})
	}
}

// Layers of stores from before tar-split keep their zstd copy of the diff.
func TestLegacyTarFile(t *testing.T) {
	h := newHarness(t)
	s := h.open(t)
	data := chainTars(t)[0]
	l := mustRegister(t, s, data, "")
	cacheID := l.(*layerRef).cacheID
	s.Close()

	// Make it what an earlier version wrote: the whole diff in
	// <cacheID>.tar.zst, named by the record.
	legacy := cacheID + legacyTarSuffix
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(filepath.Join(h.layerRoot(), "tars", legacy), enc.EncodeAll(data, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(h.layerRoot(), "tars", tarName(cacheID)))
	db, err := bolt.Open(filepath.Join(h.layerRoot(), "layers.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketV1).Bucket(bucketLayers)
		var rec layerRecord
		if err := json.Unmarshal(b.Get([]byte(l.ChainID())), &rec); err != nil {
			return err
		}
		rec.Tar = legacy
		v, _ := json.Marshal(rec)
		return b.Put([]byte(l.ChainID()), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = h.open(t)
	got := s.Map()[l.ChainID()]
	if got == nil {
		t.Fatal("layer gone")
	}
	if !bytes.Equal(readAll(t, got), data) {
		t.Error("TarStream of a legacy layer differs")
	}
	if files := h.tarFiles(t); len(files) != 1 || files[0] != legacy {
		t.Errorf("tar files %v, want only %s", files, legacy)
	}
	// Removing it removes its file.
	ref, err := s.Get(l.ChainID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ref); err != nil {
		t.Fatal(err)
	}
	if files := h.tarFiles(t); len(files) != 0 {
		t.Errorf("tar files left: %v", files)
	}
}

// A source that fails, or a reader of TarStream that stops early, leaves
// nothing running or open.
func TestTarStreamEarlyClose(t *testing.T) {
	s := newHarness(t).open(t)
	data := rawTar(t, tar.FormatPAX, reg("a", 3<<20), reg("b", 3<<20))
	l := mustRegister(t, s, data, "")
	rc, err := l.TarStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 10)); err == nil {
		t.Error("read after Close succeeded")
	}
}
