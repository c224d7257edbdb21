package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/graphdriver/vfs"
)

// entry is one tar member for mkTar. A name ending in "/" is a directory.
type entry struct {
	name string
	body string
	mode int64
	link string // symlink target
}

var epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func mkTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, ModTime: epoch, Mode: e.mode, Format: tar.FormatPAX}
		switch {
		case e.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
			if hdr.Mode == 0 {
				hdr.Mode = 0o777
			}
		case e.name[len(e.name)-1] == '/':
			hdr.Typeflag = tar.TypeDir
			if hdr.Mode == 0 {
				hdr.Mode = 0o755
			}
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.body))
			if hdr.Mode == 0 {
				hdr.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The 3-layer chain: a base, an addition, and a top layer that deletes
// /etc/app/a with a whiteout.
func chainTars(t testing.TB) [3][]byte {
	return [3][]byte{
		mkTar(t,
			entry{name: "bin/"},
			entry{name: "bin/tool", body: "#!/bin/sh\necho tool\n", mode: 0o755},
			entry{name: "bin/sh", link: "tool"},
			entry{name: "etc/"},
			entry{name: "etc/app/"},
			entry{name: "etc/app/a", body: "one\n"},
			entry{name: "etc/app/b", body: "two\n"},
		),
		mkTar(t,
			entry{name: "srv/"},
			entry{name: "srv/www/"},
			entry{name: "srv/www/index.html", body: "<h1>berth fixture</h1>\n"},
			entry{name: "etc/"},
			entry{name: "etc/app/"},
			entry{name: "etc/app/c", body: "three\n"},
		),
		mkTar(t,
			entry{name: "etc/"},
			entry{name: "etc/app/"},
			entry{name: "etc/app/.wh.a"},
			entry{name: "data/"},
			entry{name: "data/seed.txt", body: "seeded\n"},
		),
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type harness struct {
	root string
}

func newHarness(t testing.TB) *harness { return &harness{root: t.TempDir()} }

func (h *harness) vfsRoot() string   { return filepath.Join(h.root, "vfs") }
func (h *harness) layerRoot() string { return filepath.Join(h.root, "layers") }

// open opens a store; the test closes it (or Cleanup does).
func (h *harness) open(t testing.TB) *Store {
	t.Helper()
	d, err := vfs.New(h.vfsRoot())
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	log.SetLevel(logrus.DebugLevel)
	if _, bench := t.(*testing.B); bench {
		log.SetLevel(logrus.WarnLevel)
	}
	s, err := New(h.layerRoot(), d, logrus.NewEntry(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// driverDirs lists vfs's layer directories.
func (h *harness) driverDirs(t testing.TB) []string {
	t.Helper()
	return readDir(t, filepath.Join(h.vfsRoot(), "dir"))
}

func (h *harness) tarFiles(t testing.TB) []string {
	t.Helper()
	return readDir(t, filepath.Join(h.layerRoot(), "tars"))
}

func readDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func pendingKeys(t testing.TB, s *Store) []string {
	t.Helper()
	snap, err := loadSnapshot(s.db)
	if err != nil {
		t.Fatal(err)
	}
	return snap.pending
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustRegister(t testing.TB, s *Store, data []byte, parent ChainID) Layer {
	t.Helper()
	l, err := s.Register(bytes.NewReader(data), parent)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readAll(t testing.TB, l Layer) []byte {
	t.Helper()
	rc, err := l.TarStream()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
