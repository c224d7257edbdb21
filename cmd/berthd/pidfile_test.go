package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdLock takes the data root's lock through a descriptor of its own, as a
// process forked by a berthd holds it, with pid recorded as the holder.
func holdLock(t *testing.T, root string, pid int) *os.File {
	t.Helper()
	path := filepath.Join(root, "berthd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestLockHeldAfterHolderDied: a lock that outlives its dead berthd for a
// moment (a forked child had not exec'd yet) is waited for; one that a
// live berthd holds is refused.
func TestLockHeldAfterHolderDied(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	child := holdLock(t, root, dead.Process.Pid)
	go func() {
		time.Sleep(200 * time.Millisecond)
		child.Close() // the child's exec closes it
	}()
	f, err := lockDataRoot(root)
	if err != nil {
		t.Fatalf("lock after its holder died: %v", err)
	}
	f.Close()

	root = t.TempDir()
	holdLock(t, root, os.Getpid())
	if _, err := lockDataRoot(root); err == nil || !strings.Contains(err.Error(), "another berthd is already running") {
		t.Fatalf("lock held by a live berthd: %v", err)
	}
}
