package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/sys/mount"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/volume/local"
)

type event struct{ action, name string }

type harness struct {
	root   string
	driver *flakyDriver
	mu     sync.Mutex
	events []event
}

// flakyDriver is the local driver with injectable create failures.
type flakyDriver struct {
	*local.Driver
	failCreate atomic.Bool
}

func (f *flakyDriver) Create(name string, opts map[string]string) error {
	if f.failCreate.Load() {
		return errors.New("injected driver failure")
	}
	return f.Driver.Create(name, opts)
}

func newHarness(t testing.TB) *harness {
	root := t.TempDir()
	t.Cleanup(func() { _ = mount.RecursiveUnmount(root) }) // mounts left by a failed test
	return &harness{root: root}
}

func (h *harness) open(t testing.TB, max int) *VolumeStore {
	t.Helper()
	d, _, err := local.New(h.root)
	if err != nil {
		t.Fatal(err)
	}
	h.driver = &flakyDriver{Driver: d}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	s, err := New(Config{
		Root:       h.root,
		MaxVolumes: max,
		Drivers:    []Driver{h.driver},
		Events: func(action, name string, _ map[string]string) {
			h.mu.Lock()
			h.events = append(h.events, event{action, name})
			h.mu.Unlock()
		},
		Log: logrus.NewEntry(log),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (h *harness) sawEvent(action, name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.action == action && e.name == name {
			return true
		}
	}
	return false
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

var ctx = context.Background()

func mustCreate(t testing.TB, s *VolumeStore, name string) Volume {
	t.Helper()
	v, err := s.Create(ctx, CreateOptions{Name: name})
	if err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
	return v
}

func TestCreateGetListRemove(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, 0)
	v := mustCreate(t, s, "data")
	if v.Driver != "local" || v.Scope != "local" || v.Mountpoint != filepath.Join(h.root, "data", "_data") {
		t.Fatalf("unexpected volume %+v", v)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Fatalf("mountpoint not a directory: %v", err)
	}
	if got, err := s.Get(ctx, "data"); err != nil || got.Name != "data" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if l := s.List(ctx); len(l) != 1 {
		t.Fatalf("list len %d", len(l))
	}
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.root, "data")); !os.IsNotExist(err) {
		t.Fatalf("volume directory still there: %v", err)
	}
	if _, err := s.Get(ctx, "data"); !errors.Is(err, ErrNoSuchVolume) || !cerrdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if !h.sawEvent("create", "data") || !h.sawEvent("destroy", "data") {
		t.Fatalf("events: %v", h.events)
	}
}

func TestInvalidNamesAndOptions(t *testing.T) {
	s := newHarness(t).open(t, 1)
	for _, name := range []string{"../x", "/x", "a//b", "-x", ".x", "a b", fmt.Sprintf("%0300d", 1)} {
		_, err := s.Create(ctx, CreateOptions{Name: name})
		if !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("name %q: err = %v, want invalid argument", name, err)
		}
	}
	for _, opts := range []map[string]string{{"bogus": "1"}, {"type": "tmpfs"}, {"o": "size=1m"}} {
		_, err := s.Create(ctx, CreateOptions{Name: "v", DriverOpts: opts})
		if !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("opts %v: err = %v, want invalid argument", opts, err)
		}
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "v", Driver: "nfs-plugin"}); !cerrdefs.IsNotFound(err) {
		t.Errorf("unknown driver: err = %v, want not found", err)
	}
	// None of the refused creates took the only slot.
	mustCreate(t, s, "a")
}

func TestQuotaRefusesWithClearError(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, 2)
	mustCreate(t, s, "a")
	mustCreate(t, s, "b")
	_, err := s.Create(ctx, CreateOptions{Name: "c"})
	var qe *QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuotaExceeded) || !cerrdefs.IsPermissionDenied(err) {
		t.Fatalf("err = %v, want quota error classed forbidden", err)
	}
	want := "volume quota exceeded: 2 of 2 volumes in use (max-volumes=2); remove unused volumes with 'docker volume prune'"
	if err.Error() != want {
		t.Fatalf("message = %q\nwant      %q", err, want)
	}
	if !h.sawEvent("quota-exceeded", "c") {
		t.Fatal("no quota-exceeded event")
	}
	if _, err := os.Stat(filepath.Join(h.root, "c")); !os.IsNotExist(err) {
		t.Fatal("refused create touched the disk")
	}
}

// TestQuotaExactUnderConcurrency is the headline property: N concurrent
// creates of distinct names against max M leave exactly M volumes.
func TestQuotaExactUnderConcurrency(t *testing.T) {
	for round := 0; round < 5; round++ {
		h := newHarness(t)
		s := h.open(t, 10)
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				_, err := s.Create(ctx, CreateOptions{Name: fmt.Sprintf("v%02d", i)})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrQuotaExceeded):
					refused.Add(1)
				default:
					t.Errorf("create: %v", err)
				}
			}(i)
		}
		close(start)
		wg.Wait()
		if ok.Load() != 10 || refused.Load() != 54 {
			t.Fatalf("round %d: %d created, %d refused; want 10 and 54", round, ok.Load(), refused.Load())
		}
		if n := len(s.List(ctx)); n != 10 {
			t.Fatalf("round %d: %d volumes listed, want 10", round, n)
		}
		dirs, _ := h.driver.List()
		if len(dirs) != 10 {
			t.Fatalf("round %d: %d volume directories, want 10", round, len(dirs))
		}
		if used, _ := s.Quota(); used != 10 {
			t.Fatalf("round %d: quota count %d, want 10", round, used)
		}
	}
}

func TestRecreateIsIdempotentEvenWhenFull(t *testing.T) {
	s := newHarness(t).open(t, 1)
	first := mustCreate(t, s, "a")
	again, err := s.Create(ctx, CreateOptions{Name: "a", Labels: map[string]string{"ignored": "yes"}})
	if err != nil {
		t.Fatalf("re-create when full: %v", err)
	}
	if again.CreatedAt != first.CreatedAt || again.Labels["ignored"] != "" {
		t.Fatalf("re-create returned a different volume: %+v", again)
	}
	if used, _ := s.Quota(); used != 1 {
		t.Fatalf("count %d after re-create, want 1", used)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "a", Driver: "local"}); err != nil {
		t.Fatalf("re-create naming the same driver: %v", err)
	}
}

func TestDriverFailureGivesSlotBack(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, 1)
	h.driver.failCreate.Store(true)
	if _, err := s.Create(ctx, CreateOptions{Name: "a"}); err == nil {
		t.Fatal("create succeeded despite driver failure")
	}
	h.driver.failCreate.Store(false)
	if used, _ := s.Quota(); used != 0 {
		t.Fatalf("count %d after failed create, want 0", used)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNoSuchVolume) {
		t.Fatalf("failed create left a volume: %v", err)
	}
	mustCreate(t, s, "b")
}

func TestRemoveAndPruneFreeSlots(t *testing.T) {
	s := newHarness(t).open(t, 2)
	mustCreate(t, s, "named")
	anon, err := s.Create(ctx, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(anon.Name) != 64 || !anon.Anonymous() {
		t.Fatalf("anonymous volume %+v", anon)
	}
	if _, err := s.Create(ctx, CreateOptions{}); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("anonymous volumes must count: %v", err)
	}
	os.WriteFile(filepath.Join(anon.Mountpoint, "f"), make([]byte, 10000), 0o644)
	rep, err := s.Prune(ctx, Volume.Anonymous)
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0] != anon.Name || rep.SpaceReclaimed < 10000 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	if err := s.Remove(ctx, "named", false); err != nil {
		t.Fatal(err)
	}
	if used, _ := s.Quota(); used != 0 {
		t.Fatalf("count %d, want 0", used)
	}
	mustCreate(t, s, "x")
	mustCreate(t, s, "y")
}

func TestReferencedVolumeIsKept(t *testing.T) {
	s := newHarness(t).open(t, 0)
	mustCreate(t, s, "used")
	if err := s.Acquire("used", "ctr1"); err != nil {
		t.Fatal(err)
	}
	for _, force := range []bool{false, true} {
		err := s.Remove(ctx, "used", force)
		if !errors.Is(err, ErrVolumeInUse) || !cerrdefs.IsConflict(err) {
			t.Fatalf("remove (force=%v) of volume in use: %v", force, err)
		}
	}
	rep, err := s.Prune(ctx, func(Volume) bool { return true })
	if err != nil || len(rep.Removed) != 0 {
		t.Fatalf("prune removed a volume in use: %+v %v", rep, err)
	}
	s.Release("used", "ctr1")
	if err := s.Remove(ctx, "used", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "used", true); err != nil {
		t.Fatalf("force remove of missing volume: %v", err)
	}
}

func TestCountSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, 3)
	for _, n := range []string{"a", "b", "c"} {
		mustCreate(t, s, n)
	}
	s.Close()
	s = h.open(t, 3)
	if used, _ := s.Quota(); used != 3 {
		t.Fatalf("count after restart %d, want 3", used)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "d"}); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("quota not enforced after restart: %v", err)
	}
}

func TestReconcileAtStart(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, 0)
	mustCreate(t, s, "kept")
	mustCreate(t, s, "lostdata")
	s.Close()
	// An interrupted create: an empty directory with no metadata.
	os.MkdirAll(filepath.Join(h.root, "interrupted", "_data"), 0o755)
	// Data with no metadata.
	os.MkdirAll(filepath.Join(h.root, "orphan", "_data"), 0o755)
	os.WriteFile(filepath.Join(h.root, "orphan", "_data", "precious"), []byte("x"), 0o644)
	// An interrupted remove: metadata whose directory is gone.
	os.RemoveAll(filepath.Join(h.root, "lostdata"))

	s = h.open(t, 0)
	names := map[string]bool{}
	for _, v := range s.List(ctx) {
		names[v.Name] = true
	}
	if !names["kept"] || !names["orphan"] || !names["lostdata"] || names["interrupted"] || len(names) != 3 {
		t.Fatalf("volumes after reconcile: %v", names)
	}
	if _, err := os.Stat(filepath.Join(h.root, "interrupted")); !os.IsNotExist(err) {
		t.Fatal("leftover of interrupted create not removed")
	}
	if _, err := os.Stat(filepath.Join(h.root, "lostdata", "_data")); err != nil {
		t.Fatalf("missing data dir not recreated: %v", err)
	}
	if used, _ := s.Quota(); used != 3 {
		t.Fatalf("count %d, want 3", used)
	}
}

func TestLoweringMaxKeepsVolumes(t *testing.T) {
	s := newHarness(t).open(t, 0)
	for i := 0; i < 5; i++ {
		mustCreate(t, s, fmt.Sprint("v", i))
	}
	if old := s.SetMaxVolumes(3); old != 0 {
		t.Fatalf("old max %d", old)
	}
	if n := len(s.List(ctx)); n != 5 {
		t.Fatalf("%d volumes after lowering the max, want 5", n)
	}
	_, err := s.Create(ctx, CreateOptions{Name: "new"})
	if err == nil || err.Error() != "volume quota exceeded: 5 of 3 volumes in use (max-volumes=3); remove unused volumes with 'docker volume prune'" {
		t.Fatalf("err = %v", err)
	}
	s.Remove(ctx, "v0", false)
	s.Remove(ctx, "v1", false)
	s.Remove(ctx, "v2", false)
	mustCreate(t, s, "new")
}

func TestTmpfsVolumeMountedOnFirstUse(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting needs root")
	}
	h := newHarness(t)
	s := h.open(t, 0)
	_, err := s.Create(ctx, CreateOptions{Name: "scratch", DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"c1", "c2"} {
		if err := s.Acquire("scratch", ref); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mount("scratch", ref); err != nil {
			t.Fatal(err)
		}
	}
	if !h.driver.Mounted("scratch") || !h.sawEvent("mount", "scratch") {
		t.Fatal("volume not mounted")
	}
	if err := s.Unmount("scratch", "c1"); err != nil {
		t.Fatal(err)
	}
	if !h.driver.Mounted("scratch") {
		t.Fatal("unmounted while c2 still uses it")
	}
	if err := s.Unmount("scratch", "c2"); err != nil {
		t.Fatal(err)
	}
	if h.driver.Mounted("scratch") || !h.sawEvent("unmount", "scratch") {
		t.Fatal("still mounted after the last release")
	}
	s.Release("scratch", "c1")
	s.Release("scratch", "c2")
	if err := s.Remove(ctx, "scratch", false); err != nil {
		t.Fatal(err)
	}
}
