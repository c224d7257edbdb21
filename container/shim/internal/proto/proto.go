// Package proto holds what berthd's client (package shim) and the shim
// (package server) share: the options, the state and exit types, the wire
// protocol, the state dir's files and their helpers. It depends on the
// standard library, x/sys and the runtime spec only, so the shim binary,
// re-executed as every container's init, stays small.
package proto

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Names of the files in a state directory.
const (
	OptionsFile = "shim.json"
	PidFile     = "shim.pid"
	SocketFile  = "shim.sock"
	LogFile     = "shim.log"
	ExitFile    = "exit.json"
)

// ReadyFdEnv names the environment variable that tells `berth-shim serve`
// which inherited file descriptor to report readiness (or the create error)
// on.
const ReadyFdEnv = "_BERTH_SHIM_READY_FD"

// Options describe one container to a shim. Spawn writes them to
// StateDir/shim.json, where the shim (and `berth-shim cleanup`) reads them.
type Options struct {
	ID          string // container ID, also the libcontainer ID and cgroup name
	Bundle      string // dir holding config.json: an OCI runtime spec written by berthd; Root.Path absolute (the mounted rootfs)
	StateDir    string // <exec-root>/containers/<id>: shim.json, shim.sock, shim.pid, exit.json, shim.log
	RuntimeRoot string // libcontainer state root shared by all shims: <exec-root>/runtime
	LogPath     string // json-file log of the init's stdout/stderr; "" = no log
	LogMaxSize  int64  // bytes, 0 = unlimited
	LogMaxFiles int    // files kept when rotating, >= 1
	Terminal    bool   // allocate a pty for the init process (stdout+stderr merged, raw stream)
	OpenStdin   bool   // keep a stdin pipe/pty input for attachers
	StdinOnce   bool   // close the container's stdin when the first attached stdin reaches EOF
}

// Validate checks the options a shim cannot work without.
func (o *Options) Validate() error {
	switch {
	case o.ID == "":
		return errors.New("shim: empty container ID")
	case !filepath.IsAbs(o.Bundle):
		return fmt.Errorf("shim: bundle %q is not an absolute path", o.Bundle)
	case !filepath.IsAbs(o.StateDir):
		return fmt.Errorf("shim: state dir %q is not an absolute path", o.StateDir)
	case !filepath.IsAbs(o.RuntimeRoot):
		return fmt.Errorf("shim: runtime root %q is not an absolute path", o.RuntimeRoot)
	case o.LogPath != "" && !filepath.IsAbs(o.LogPath):
		return fmt.Errorf("shim: log path %q is not an absolute path", o.LogPath)
	case o.LogMaxSize < 0:
		return errors.New("shim: negative log max size")
	}
	return nil
}

// Exit is how a container's init process ended.
type Exit struct {
	Code      int       // exit status, or 128+signal when killed by a signal
	OOMKilled bool      // the memory cgroup recorded an OOM kill
	At        time.Time // when the shim saw the exit
}

// State is a container's state as its shim sees it.
type State struct {
	Status string // "created", "running", "paused", "stopped"
	Pid    int    // the init's pid (in the host's pid namespace)
	Exit   *Exit  // set once Status is "stopped"
}

// Status values of State.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
)

// AttachOptions select the streams of an attach.
type AttachOptions struct {
	Stdin  bool
	Stdout bool
	Stderr bool
}

// Request is one request line of the protocol.
type Request struct {
	Op string `json:"op"`

	Signal int  `json:"signal,omitempty"` // kill
	All    bool `json:"all,omitempty"`    // kill

	Attach *AttachOptions `json:"attach,omitempty"` // attach

	ExecID  string         `json:"exec_id,omitempty"` // exec, exec-wait, resize
	Process *specs.Process `json:"process,omitempty"` // exec
	Stdin   bool           `json:"stdin,omitempty"`   // exec

	Height uint16 `json:"height,omitempty"` // resize
	Width  uint16 `json:"width,omitempty"`  // resize

	Resources *specs.LinuxResources `json:"resources,omitempty"` // update
}

// Operations of the protocol.
const (
	OpState    = "state"
	OpStart    = "start"
	OpKill     = "kill"
	OpWait     = "wait"
	OpAttach   = "attach"
	OpResize   = "resize"
	OpExec     = "exec"
	OpExecWait = "exec-wait"
	OpPause    = "pause"
	OpResume   = "resume"
	OpStats    = "stats"
	OpPids     = "pids"
	OpUpdate   = "update"
	OpDelete   = "delete"
)

// Error kinds carried in Response.Kind; the client maps them onto
// github.com/containerd/errdefs.
const (
	KindNotFound    = "notfound"
	KindConflict    = "conflict"
	KindInvalid     = "invalid"
	KindUnavailable = "unavailable"
)

// Response is the reply line of the protocol.
type Response struct {
	Error string `json:"error,omitempty"`
	Kind  string `json:"kind,omitempty"`

	State *State          `json:"state,omitempty"`
	Exit  *Exit           `json:"exit,omitempty"`
	Pid   int             `json:"pid,omitempty"`
	Code  int             `json:"code,omitempty"`
	Pids  []int           `json:"pids,omitempty"`
	Stats json.RawMessage `json:"stats,omitempty"`
}

// Ready is the message a shim writes on its readiness pipe: the init's pid
// once the container is created, or the error that prevented it.
type Ready struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// ReadOptions reads StateDir/shim.json.
func ReadOptions(stateDir string) (Options, error) {
	var o Options
	b, err := os.ReadFile(filepath.Join(stateDir, OptionsFile))
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("shim: %s: %w", OptionsFile, err)
	}
	return o, nil
}

// ReadExit reads the exit.json left in stateDir by a shim whose init exited.
// The error satisfies errors.Is(err, fs.ErrNotExist) when there is none.
func ReadExit(stateDir string) (Exit, error) {
	var e Exit
	b, err := os.ReadFile(filepath.Join(stateDir, ExitFile))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("shim: %s: %w", ExitFile, err)
	}
	return e, nil
}

// WriteFileAtomic writes data to path through a temporary file and a
// rename, so that a reader sees all of it or nothing. It does not fsync:
// these files are runtime state under the exec root, read again only after
// a berthd or shim process died (the page cache outlives processes), not
// after the host went down (which ended the containers too).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ReadPid returns the pid in stateDir/shim.pid.
func ReadPid(stateDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, PidFile))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
