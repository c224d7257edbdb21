package overlay2

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestInDir: fn runs with dir as its working directory while the rest of
// the process keeps its own, also when many run at once.
func TestInDir(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		dir := filepath.Join(t.TempDir(), "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := inDir(dir, func() error {
				buf := make([]byte, 4096)
				n, err := unix.Getcwd(buf)
				if err != nil {
					return err
				}
				if got := string(buf[:n-1]); got != dir {
					t.Errorf("%d: cwd in fn %s, want %s", i, got, dir)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if now, _ := os.Getwd(); now != cwd {
		t.Errorf("process cwd changed to %s", now)
	}
	if err := inDir("/nonexistent-dir", func() error { return nil }); err == nil {
		t.Error("inDir of a missing directory succeeded")
	}
}
