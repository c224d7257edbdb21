package trash

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// tree makes a small directory tree at dir.
func tree(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{"a/b/c", "d"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"f", "a/g", "a/b/c/h"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "d", "l")); err != nil {
		t.Fatal(err)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestMove(t *testing.T) {
	root := t.TempDir()
	tr, err := Open(filepath.Join(root, "trash"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "layer")
	tree(t, src)
	if err := tr.Move(src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after Move, %s: %v", src, err)
	}
	// The same name again: entries in the trash never collide.
	tree(t, src)
	if err := tr.Move(src); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if left := entries(t, filepath.Join(root, "trash")); len(left) != 0 {
		t.Fatalf("trash not emptied: %v", left)
	}
	if err := tr.Move(filepath.Join(root, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Move of a missing path: %v", err)
	}
}

func TestMoveConcurrent(t *testing.T) {
	root := t.TempDir()
	tr, err := Open(filepath.Join(root, "trash"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 8 {
				src := filepath.Join(root, fmt.Sprintf("l%d-%d", i, j))
				tree(t, src)
				if err := tr.Move(src); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	tr.Wait()
	if left := entries(t, root); len(left) != 1 || left[0] != "trash" {
		t.Fatalf("left beside the trash: %v", left)
	}
	if left := entries(t, filepath.Join(root, "trash")); len(left) != 0 {
		t.Fatalf("trash not emptied: %v", left)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}

// What a crash left in the trash goes when it is opened again.
func TestOpenEmptiesLeftovers(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "trash")
	tree(t, filepath.Join(dir, "left-by-a-crash"))
	expectEmptiedByOpen(t, dir)
}

// expectEmptiedByOpen opens the trash dir and closes it, and fails the
// test unless that left dir empty.
func expectEmptiedByOpen(t *testing.T, dir string) {
	t.Helper()
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if left := entries(t, dir); len(left) != 0 {
		t.Fatalf("what was in the trash stayed after Open and Close: %v", left)
	}
}

// A tree that cannot be deleted (here: a mount inside it) stays in the
// trash, and Close says why; the next Open deletes it.
func TestDeleteFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	root := t.TempDir()
	src := filepath.Join(root, "layer")
	tree(t, src)
	if err := unix.Mount("tmpfs", filepath.Join(src, "d"), "tmpfs", 0, ""); err != nil {
		t.Skipf("mount: %v", err)
	}
	dir := filepath.Join(root, "trash")
	tr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Move(src); err != nil {
		t.Fatal(err)
	}
	err = tr.Close()
	left := entries(t, dir)
	if len(left) != 1 {
		t.Fatalf("trash holds %v, want the tree with a mount", left)
	}
	if err := unix.Unmount(filepath.Join(dir, left[0], "d"), 0); err != nil {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("Close: %v, want the busy mount point", err)
	}
	expectEmptiedByOpen(t, dir)
}
