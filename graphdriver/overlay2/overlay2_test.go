package overlay2_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/berth-engine/berth/graphdriver"
	"github.com/berth-engine/berth/graphdriver/graphtest"
	"github.com/berth-engine/berth/graphdriver/overlay2"
)

func newDriver(root string) (graphdriver.Driver, error) { return overlay2.New(root) }

func TestSuite(t *testing.T) { graphtest.Run(t, newDriver) }

// TestLayout: the on-disk layout, mounts only where needed, the status.
func TestLayout(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	e.Layer("base", "", graphtest.File("a", "a"))
	e.Layer("child", "base", graphtest.File("b", "b"))
	e.Must(e.D.CreateReadWrite("rw", "child"))

	for _, id := range []string{"base", "child", "rw"} {
		link, err := os.ReadFile(filepath.Join(e.Root, id, "link"))
		e.Must(err)
		target, err := os.Readlink(filepath.Join(e.Root, "l", string(link)))
		if err != nil || target != "../"+id+"/diff" {
			t.Errorf("%s: l/%s -> %q %v", id, link, target, err)
		}
	}
	lower, err := os.ReadFile(filepath.Join(e.Root, "rw", "lower"))
	e.Must(err)
	if parts := strings.Split(string(lower), ":"); len(parts) != 2 || !strings.HasPrefix(parts[0], "l/") {
		t.Errorf("rw lower %q", lower)
	}
	if _, err := os.Stat(filepath.Join(e.Root, "base", "lower")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("base layer has a lower file: %v", err)
	}

	if dir := e.Get("base", true); dir != filepath.Join(e.Root, "base", "diff") {
		t.Errorf("Get(base) = %s, want its diff dir", dir)
	}
	for id, ro := range map[string]bool{"child": true, "rw": false} {
		dir := e.Get(id, true)
		mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
		e.Must(err)
		if len(mounts) != 1 || mounts[0].FSType != "overlay" {
			t.Fatalf("Get(%s): %s is not an overlay mount: %v", id, dir, mounts)
		}
		hasUpper := strings.Contains(mounts[0].VFSOptions, "upperdir=")
		if hasUpper == ro {
			t.Errorf("%s: read-only %v but mount options %q", id, ro, mounts[0].VFSOptions)
		}
		err = os.WriteFile(filepath.Join(dir, "w"), nil, 0o644)
		if ro != (err != nil) {
			t.Errorf("%s: read-only %v, write: %v", id, ro, err)
		}
	}

	status := map[string]string{}
	for _, kv := range e.D.Status() {
		status[kv[0]] = kv[1]
	}
	if status["Backing Filesystem"] == "" || status["Supports d_type"] != "true" ||
		status["Native Overlay Diff"] == "" || status["Using metacopy"] == "" {
		t.Errorf("Status: %v", status)
	}
	t.Logf("Status: %v", status)
}

// TestStaleMountAdopted: a layer left mounted by an earlier process (a
// driver that never Put it) is adopted by a new driver's Get, unmounted by
// its Put, and Remove unmounts one nobody holds.
func TestStaleMountAdopted(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	e.Layer("base", "", graphtest.File("a", "a"))
	e.Layer("child", "base", graphtest.File("b", "b"))
	e.Layer("other", "base", graphtest.File("c", "c"))
	dir := e.Get("child", false)
	_ = e.Get("other", false)

	d2, err := overlay2.New(e.Root) // a restarted daemon
	e.Must(err)
	dir2, err := d2.Get("child")
	e.Must(err)
	if dir2 != dir {
		t.Fatalf("Get after restart: %s, want %s", dir2, dir)
	}
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	e.Must(err)
	if len(mounts) != 1 {
		t.Errorf("mounted %d times", len(mounts))
	}
	e.Must(d2.Put("child"))
	if m, _ := mountinfo.Mounted(dir); m {
		t.Error("still mounted after the new driver's Put")
	}
	e.Must(d2.Remove("other"))
	if e.D.Exists("other") {
		t.Error("stale-mounted layer not removed")
	}
	if m, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(e.Root)); len(m) != 0 {
		t.Errorf("mounts left: %v", m[0].Mountpoint)
	}
}

// TestMaxDepth: a layer may have at most MaxDepth lower layers, and the
// deepest allowed mounts (through relative paths: absolute ones would not
// fit a page).
func TestMaxDepth(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	parent := ""
	for i := 0; i <= overlay2.MaxDepth; i++ {
		id := fmt.Sprintf("%064d", i) // as long as Docker's IDs
		e.Layer(id, parent, graphtest.File(fmt.Sprintf("f%03d", i), "x"))
		parent = id
	}
	// parent has MaxDepth lowers; mounted read-only it stacks one more.
	dir := e.Get(parent, true)
	entries, err := os.ReadDir(dir)
	e.Must(err)
	if len(entries) != overlay2.MaxDepth+1 {
		t.Errorf("deepest layer shows %d files, want %d", len(entries), overlay2.MaxDepth+1)
	}
	if err := e.D.CreateReadWrite("too-deep", parent); err == nil {
		t.Error("a layer with more than MaxDepth lowers was created")
	}
}

// TestSupportedRefusesOverlayRoot: a root on overlayfs is not supported.
func TestSupportedRefusesOverlayRoot(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	e.Layer("base", "", graphtest.File("a", "a"))
	e.Must(e.D.CreateReadWrite("rw", "base"))
	dir := e.Get("rw", true)
	err := overlay2.Supported(filepath.Join(dir, "sub"))
	if !errors.Is(err, graphdriver.ErrNotSupported) {
		t.Fatalf("Supported on overlayfs: %v", err)
	}
	t.Logf("%v", err)
}

// TestParentMismatch: ApplyDiff refuses a parent that is not the layer's;
// Diff and Changes against another layer compare mounted trees.
func TestParentMismatch(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	e.Layer("base", "", graphtest.File("a", "a"))
	e.Layer("other", "", graphtest.File("o", "o"))
	e.Create("child", "base")
	for _, wrong := range []string{"", "other", "nope"} {
		_, err := e.D.ApplyDiff("child", wrong, bytes.NewReader(graphtest.Tar(t, graphtest.File("b", "b"))))
		if !errors.Is(err, graphdriver.ErrParentMismatch) {
			t.Errorf("ApplyDiff(child, %q): %v, want ErrParentMismatch", wrong, err)
		}
	}
	e.Apply("child", "base", graphtest.File("b", "b"))
	got, err := e.D.Changes("child", "other")
	e.Must(err)
	var s []string
	for _, c := range got {
		s = append(s, c.String())
	}
	slices.Sort(s)
	if want := []string{"A /a", "A /b", "D /o"}; !slices.Equal(s, want) {
		t.Errorf("Changes(child, other) = %q, want %q", s, want)
	}
}

func TestApplyDiffVsTarX(t *testing.T) {
	graphtest.CompareWithTarX(t, newDriver, 200<<20, 1.5, 3)
}

func BenchmarkApplyDiff(b *testing.B) { graphtest.BenchApplyDiff(b, newDriver, 50<<20) }

func BenchmarkTarX(b *testing.B) { graphtest.BenchTarX(b, 50<<20) }

// TestGetEphemeral: an ephemeral mount of a read-write layer is volatile
// (no syncs), can be mounted again after its Put (overlay refuses that
// until work/incompat is gone), and does not change how Get mounts.
func TestGetEphemeral(t *testing.T) {
	e := graphtest.NewEnv(t, newDriver)
	e.Layer("base", "", graphtest.File("a", "a"))
	e.Must(e.D.CreateReadWrite("rm", "base"))
	e.Must(e.D.CreateReadWrite("kept", "base"))
	eg, ok := e.D.(graphdriver.EphemeralGetter)
	if !ok {
		t.Fatal("overlay2 is not an EphemeralGetter")
	}
	opts := func(dir string) string {
		m, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
		e.Must(err)
		if len(m) != 1 {
			t.Fatalf("%s mounted %d times", dir, len(m))
		}
		return m[0].VFSOptions
	}
	for i := range 2 {
		dir, err := eg.GetEphemeral("rm")
		e.Must(err)
		if o := opts(dir); !strings.Contains(o, "volatile") {
			t.Fatalf("mount %d: options %q, want volatile", i, o)
		}
		e.Must(os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
		e.Must(e.D.Put("rm"))
	}
	dir, err := e.D.Get("kept")
	e.Must(err)
	if o := opts(dir); strings.Contains(o, "volatile") {
		t.Errorf("Get mounted with %q", o)
	}
	e.Must(e.D.Put("kept"))
	e.Must(e.D.Remove("rm"))
	e.Must(e.D.Remove("kept"))
}
