//go:build linux && cgo

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	shim "github.com/berth-engine/berth/container/shim/internal/proto"
	"github.com/berth-engine/berth/internal/procfs"
)

// Cleanup runs `berth-shim cleanup stateDir`: it kills the shim left
// running there, kills and destroys the libcontainer container if it still
// exists, removes leftover cgroup dirs and libcontainer state (a crash
// between Create and Start leaves a state dir with only exec.fifo, which
// Load does not accept, and the cgroup dirs), then the state dir. A missing
// state dir is not an error.
func Cleanup(stateDir string) error {
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	o, err := shim.ReadOptions(stateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The shim first, so that it does not race the rest.
	if pid, err := shim.ReadPid(stateDir); err == nil && isShim(pid, stateDir) {
		unix.Kill(pid, unix.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
	var paths map[string]string
	if b, err := os.ReadFile(filepath.Join(stateDir, cgroupsFile)); err == nil {
		json.Unmarshal(b, &paths)
	}
	if o.ID != "" && o.RuntimeRoot != "" {
		if ctr, err := libcontainer.Load(o.RuntimeRoot, o.ID); err == nil {
			if st, err := ctr.State(); err == nil && len(st.CgroupPaths) > 0 {
				paths = st.CgroupPaths
			}
			if status, _ := ctr.Status(); status != libcontainer.Stopped {
				if status == libcontainer.Paused {
					ctr.Resume()
				}
				ctr.Signal(unix.SIGKILL)
				deadline := time.Now().Add(5 * time.Second)
				for time.Now().Before(deadline) {
					if st, err := ctr.Status(); err != nil || st == libcontainer.Stopped {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			if err := ctr.Destroy(); err != nil {
				fmt.Fprintf(os.Stderr, "berth-shim cleanup: destroy: %v\n", err)
			}
		}
		if err := os.RemoveAll(filepath.Join(o.RuntimeRoot, o.ID)); err != nil {
			return err
		}
	}
	if err := removeCgroups(paths); err != nil {
		return err
	}
	return os.RemoveAll(stateDir)
}

// removeCgroups kills what is left in the cgroups and removes them. The
// parent dirs are the daemon's.
func removeCgroups(paths map[string]string) error {
	if len(paths) == 0 {
		return nil
	}
	for i := 0; i < 50; i++ {
		alive := false
		for _, p := range paths {
			pids, _ := cgroups.GetPids(p)
			for _, pid := range pids {
				alive = true
				unix.Kill(pid, unix.SIGKILL)
			}
			// A frozen v1 cgroup holds its killed processes until thawed.
			if _, err := os.Stat(filepath.Join(p, "freezer.state")); err == nil && len(pids) > 0 {
				os.WriteFile(filepath.Join(p, "freezer.state"), []byte("THAWED"), 0)
			}
		}
		if !alive {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cgroups.RemovePaths(paths)
}

// isShim tells whether pid is `berth-shim serve stateDir`.
func isShim(pid int, stateDir string) bool {
	if pid <= 0 || pid == os.Getpid() {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("\x00serve\x00"+stateDir+"\x00"))
}

func waitGone(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && procfs.Alive(pid) {
		time.Sleep(5 * time.Millisecond)
	}
}
