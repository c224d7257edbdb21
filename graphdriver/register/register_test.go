package register_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/graphtest"
	"github.com/berth-engine/berth/graphdriver/overlay2"
	"github.com/berth-engine/berth/graphdriver/register"
)

func logger() (*logrus.Entry, *logtest.Hook) {
	l, hook := logtest.NewNullLogger()
	return logrus.NewEntry(l), hook
}

func cleanup(t *testing.T, d graphdriver.Driver) {
	t.Cleanup(func() {
		if err := d.Cleanup(); err != nil {
			t.Error(err)
		}
	})
}

func TestByName(t *testing.T) {
	root := t.TempDir()
	log, _ := logger()
	d, err := register.New("vfs", root, log)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, d)
	if d.String() != "vfs" {
		t.Errorf("got %s", d)
	}
	if _, err := os.Stat(filepath.Join(root, "vfs")); err != nil {
		t.Errorf("vfs root: %v", err)
	}
	if _, err := register.New("aufs", root, log); !errors.Is(err, graphdriver.ErrNotSupported) {
		t.Errorf("unknown driver: %v", err)
	}
}

func TestDefault(t *testing.T) {
	root := t.TempDir()
	log, hook := logger()
	d, err := register.New("", root, log)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, d)
	want := "vfs"
	if overlay2.Supported(filepath.Join(t.TempDir(), "probe")) == nil {
		want = "overlay2"
	}
	if d.String() != want {
		t.Errorf("default driver %s, want %s", d, want)
	}
	if e := hook.LastEntry(); e == nil || e.Data["storage-driver"] != want {
		t.Errorf("choice not logged: %v", e)
	}
}

func TestPriorDriverWins(t *testing.T) {
	root := t.TempDir()
	log, hook := logger()
	v, err := register.New("vfs", root, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Create("layer", ""); err != nil {
		t.Fatal(err)
	}
	d, err := register.New("", root, log)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, d)
	if d.String() != "vfs" {
		t.Errorf("driver %s, want vfs (it holds the layers)", d)
	}
	if !strings.Contains(hook.LastEntry().Message, "existing layers") {
		t.Errorf("log: %q", hook.LastEntry().Message)
	}

	// Layers of two drivers: no guessing.
	if err := os.MkdirAll(filepath.Join(root, "overlay2", "somelayer"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := register.New("", root, log); err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Errorf("two prior drivers: %v", err)
	}
}

// TestFallbackToVFS: with the storage root on overlayfs, overlay2 is not
// supported and the default is vfs, with the reason logged.
func TestFallbackToVFS(t *testing.T) {
	e := graphtest.NewEnv(t, func(root string) (graphdriver.Driver, error) { return overlay2.New(root) })
	e.Layer("base", "", graphtest.Dir("x/"))
	e.Must(e.D.CreateReadWrite("rw", "base"))
	dir := e.Get("rw", true)

	log, hook := logger()
	d, err := register.New("", filepath.Join(dir, "x"), log)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, d)
	if d.String() != "vfs" {
		t.Fatalf("driver %s on overlayfs, want vfs", d)
	}
	var reason bool
	for _, entry := range hook.AllEntries() {
		if entry.Data["storage-driver"] == "overlay2" && entry.Data[logrus.ErrorKey] != nil {
			reason = true
		}
	}
	if !reason {
		t.Errorf("reason for skipping overlay2 not logged: %v", hook.AllEntries())
	}
	if _, err := register.New("overlay2", filepath.Join(dir, "y"), log); !errors.Is(err, graphdriver.ErrNotSupported) {
		t.Errorf("overlay2 on overlayfs by name: %v", err)
	}
}
