package shim_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-engine/berth/container/shim"
)

// warmShims are the berth-shim processes waiting in pool for a state dir.
func warmShims(pool string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		args := strings.Split(string(b), "\x00")
		if len(args) >= 3 && args[1] == "wait" && args[2] == pool {
			if stdout, _ := os.Readlink(filepath.Join(filepath.Dir(p), "fd", "1")); stdout == os.DevNull {
				out = append(out, filepath.Base(filepath.Dir(p)))
			}
		}
	}
	return out
}

// A Spawner runs containers through the shim it started ahead of need,
// starts the next one at Refill, and ends the one waiting at Close.
func TestSpawnerWarmShim(t *testing.T) {
	needRoot(t)
	pool := filepath.Join(workDir, "run", "containers")
	if err := os.MkdirAll(pool, 0o711); err != nil {
		t.Fatal(err)
	}
	sp := shim.NewSpawner(shimBin, pool)
	defer sp.Close()
	waitFor(t, "a warm shim", 5*time.Second, func() bool { return len(warmShims(pool)) == 1 })
	warm := warmShims(pool)[0]

	for i, want := range []int{0, 3} {
		e := newEnv(t, "sh", "-c", []string{"true", "exit 3"}[i])
		e.writeSpec(t)
		c, err := sp.Spawn(ctx(t), e.opts)
		if err != nil {
			t.Fatalf("spawn %d: %v", i, err)
		}
		if i == 0 && strconv.Itoa(c.Pid()) != warm {
			t.Errorf("the first spawn did not use the warm shim %s (got pid %d)", warm, c.Pid())
		}
		if out, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(c.Pid()), "fd", "1")); out != filepath.Join(e.opts.StateDir, shim.LogFile) {
			t.Errorf("the shim's stdout is %q, want its state dir's log", out)
		}
		if err := c.Start(ctx(t)); err != nil {
			t.Fatal(err)
		}
		sp.Refill()
		if ex, err := c.Wait(ctx(t)); err != nil || ex.Code != want {
			t.Fatalf("wait: %+v %v, want code %d", ex, err, want)
		}
		e.delete(t, c)
		waitFor(t, "the next warm shim", 5*time.Second, func() bool { return len(warmShims(pool)) == 1 })
	}

	// A failed create through a warm shim leaves nothing either.
	e := newEnv(t, "/nosuch")
	e.writeSpec(t)
	if _, err := sp.Spawn(ctx(t), e.opts); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("spawn of a missing executable: %v", err)
	}
	e.checkNoLeaks(t)

	sp.Close()
	waitFor(t, "the warm shim to exit", 5*time.Second, func() bool { return len(warmShims(pool)) == 0 })
}
