// Package shim is berthd's side of the container shim.
//
// Every container is owned by a small detached process, berth-shim (built
// from cmd/berth-shim with cgo), which creates the container with runc's
// libcontainer, holds its stdio, writes its json-file log and keeps its exit
// status. berthd talks to it over a unix socket in the container's state
// directory and reconnects to it after a restart, so containers outlive the
// daemon.
//
// This package is pure Go (no cgo, no libcontainer): the options, the
// client, and the functions that start (Spawn), find again (Connect) and
// clean up (Cleanup, ReadExit) a shim. The libcontainer side is in
// container/shim/server, imported only by cmd/berth-shim; what both sides
// share (types, wire protocol) is in container/shim/internal/proto and
// re-exported here.
//
// Files in a state directory (Options.StateDir):
//
//	shim.json  the Options the shim was spawned with
//	shim.pid   the shim's pid
//	shim.sock  the shim's socket
//	shim.log   the shim's own stderr
//	exit.json  the init's Exit, written atomically once it exited
//
// Protocol: per connection, the client writes one JSON Request line and the
// shim answers one JSON Response line. "attach" and "exec" then turn the
// connection into a stream: shim→client carries the process output (raw with
// a terminal, else Docker's stdcopy framing), client→shim carries stdin, and
// the client's CloseWrite is stdin EOF. The shim closes the stream once the
// process exited and all its output was delivered.
package shim

import (
	"errors"

	"github.com/berth-engine/berth/container/shim/internal/proto"
)

// Names of the files in a state directory.
const (
	OptionsFile = proto.OptionsFile
	PidFile     = proto.PidFile
	SocketFile  = proto.SocketFile
	LogFile     = proto.LogFile
	ExitFile    = proto.ExitFile
)

// Options describe one container to a shim: ID, Bundle (dir of config.json,
// an OCI runtime spec whose Root.Path is absolute), StateDir
// (<exec-root>/containers/<id>), RuntimeRoot (libcontainer's state root,
// shared), LogPath ("" = no log), LogMaxSize (0 = unlimited), LogMaxFiles
// (>= 1), Terminal, OpenStdin and StdinOnce. Spawn writes them to
// StateDir/shim.json.
type Options = proto.Options

// Exit is how a container's init ended: Code (exit status, or 128+signal),
// OOMKilled, At.
type Exit = proto.Exit

// State is a container's state as its shim sees it: Status (one of the
// Status constants), Pid (the init's, host pid namespace) and Exit (set
// once stopped).
type State = proto.State

// AttachOptions select the streams of an attach.
type AttachOptions = proto.AttachOptions

// Status values of State.
const (
	StatusCreated = proto.StatusCreated
	StatusRunning = proto.StatusRunning
	StatusPaused  = proto.StatusPaused
	StatusStopped = proto.StatusStopped
)

// ErrNoShim is returned (wrapped) by Connect and the Client's methods when
// no shim answers at the state dir.
var ErrNoShim = errors.New("shim: no shim is running for this container")

// ReadExit reads the exit.json left in stateDir by a shim whose init exited.
// The error satisfies errors.Is(err, fs.ErrNotExist) when there is none.
func ReadExit(stateDir string) (Exit, error) { return proto.ReadExit(stateDir) }

// ReadOptions reads the options in stateDir/shim.json.
func ReadOptions(stateDir string) (Options, error) { return proto.ReadOptions(stateDir) }

// ReadPid returns the shim's pid from stateDir/shim.pid.
func ReadPid(stateDir string) (int, error) { return proto.ReadPid(stateDir) }
