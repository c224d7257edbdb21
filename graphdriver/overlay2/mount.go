package overlay2

import (
	"errors"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// mountOverlay mounts an overlay at target. data holds paths relative to
// dir when relative is set (for lower chains whose absolute paths would
// not fit in the one page the kernel takes as mount data): the mount then
// happens on a thread whose working directory alone is dir.
func mountOverlay(dir, target, data string, relative bool) error {
	mount := func() error { return unix.Mount("overlay", target, "overlay", 0, data) }
	if !relative {
		return mount()
	}
	return inDir(dir, mount)
}

// inDir runs fn on an OS thread that has its own working directory, set
// to dir; the rest of the process keeps its own. The thread is thrown away
// afterwards (its goroutine exits while still locked to it).
func inDir(dir string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The process's main thread: the runtime parks rather than
			// ends it when a locked goroutine exits, and /proc/self
			// describes it, so do not change it. Holding it locked
			// meanwhile keeps the retry off it.
			errc <- inDir(dir, fn)
			runtime.UnlockOSThread()
			return
		}
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			// Nothing changed: the thread can go back to the pool.
			runtime.UnlockOSThread()
			errc <- &os.SyscallError{Syscall: "unshare(CLONE_FS)", Err: err}
			return
		}
		// From here on the thread's cwd is its own: never unlock.
		if err := unix.Chdir(dir); err != nil {
			errc <- &os.PathError{Op: "chdir", Path: dir, Err: err}
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// unmount detaches the mount at target; a target that is not a mount
// point (or is gone) is not an error.
func unmount(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return &os.PathError{Op: "umount", Path: target, Err: err}
}
