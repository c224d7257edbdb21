package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/procfs"
)

// lockDataRoot takes berthd's exclusive lock on dataRoot, recording our pid
// in the lock file for the error a second berthd reports. The lock lasts
// as long as the returned file stays open.
func lockDataRoot(dataRoot string) (*os.File, error) {
	if err := os.MkdirAll(dataRoot, 0o711); err != nil {
		return nil, fmt.Errorf("creating data root: %w", err)
	}
	path := filepath.Join(dataRoot, "berthd.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := lockOrWaitDead(f, path); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another berthd is already running with data root %s (pid %s holds %s)", dataRoot, lockHolder(path), path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing pid to %s: %w", path, err)
	}
	return f, nil
}

// deadHolderGrace is how long a lock whose recorded holder is dead may stay
// held: a berthd killed while it forked a process leaves the lock with that
// child until its exec closes the inherited descriptor.
const deadHolderGrace = 2 * time.Second

// lockOrWaitDead takes the lock on f, waiting up to deadHolderGrace while
// the berthd that holds it (per the file) is already dead, as after a kill
// -9 and an immediate restart by systemd.
func lockOrWaitDead(f *os.File, path string) error {
	deadline := time.Now().Add(deadHolderGrace)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		pid, perr := strconv.Atoi(lockHolder(path))
		if perr != nil || procfs.Alive(pid) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockHolder reads the pid in a held lock file, waiting briefly for a
// holder that has only just taken the lock to write it.
func lockHolder(path string) string {
	for range 20 {
		b, _ := os.ReadFile(path)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return strconv.Itoa(pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "unknown"
}

// writePidfile writes our pid to path, refusing if it names another live
// process; the returned func removes it if it is still ours.
func writePidfile(path string) (func(), error) {
	if b, err := os.ReadFile(path); err == nil {
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && pid != os.Getpid() && procfs.Alive(pid) {
			return nil, fmt.Errorf("pidfile %s names running process %d: is another berthd running?", path, pid)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating pidfile directory: %w", err)
	}
	own := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(path, []byte(own+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing pidfile: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == own {
			_ = os.Remove(path)
		}
	}, nil
}
