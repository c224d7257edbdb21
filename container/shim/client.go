package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-engine/berth/container/shim/internal/proto"
	"github.com/berth-engine/berth/internal/procfs"
)

// Client talks to one container's shim. Every call opens its own connection
// to StateDir/shim.sock, so a Client is safe for concurrent use and holds no
// connection between calls.
type Client struct {
	stateDir string
	pid      int           // the shim's pid
	initPid  int           // the container's init, as Spawn's shim reported it; 0 after Connect
	reaped   chan struct{} // closed when a shim this process spawned was reaped; nil after Connect
}

// StateDir returns the container's state directory.
func (c *Client) StateDir() string { return c.stateDir }

// Pid returns the shim's pid.
func (c *Client) Pid() int { return c.pid }

// InitPid returns the pid of the container's init (the program, once
// started) when the client came from Spawn, which learns it with the
// create's answer; 0 after Connect (ask State).
func (c *Client) InitPid() int { return c.initPid }

// Connect finds the shim of the container whose state directory is
// stateDir, e.g. after berthd restarted. It returns an error wrapping
// ErrNoShim when no shim answers there (see ReadExit and Cleanup for that
// case).
func Connect(ctx context.Context, stateDir string) (*Client, error) {
	c := &Client{stateDir: stateDir}
	if b, err := os.ReadFile(filepath.Join(stateDir, proto.PidFile)); err == nil {
		c.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if _, err := c.State(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the client. The shim and its container are not affected.
func (c *Client) Close() error { return nil }

// Start runs the user's program in the created container (libcontainer's
// Exec: the init blocked before exec goes on).
func (c *Client) Start(ctx context.Context) error {
	_, err := c.do(ctx, &proto.Request{Op: proto.OpStart})
	return err
}

// State returns the container's state.
func (c *Client) State(ctx context.Context) (State, error) {
	r, err := c.do(ctx, &proto.Request{Op: proto.OpState})
	if err != nil {
		return State{}, err
	}
	if r.State == nil {
		return State{}, errors.New("shim: state missing in reply")
	}
	return *r.State, nil
}

// Kill sends sig to the container's init, or with all to every process in
// the container's cgroup.
func (c *Client) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	_, err := c.do(ctx, &proto.Request{Op: proto.OpKill, Signal: int(sig), All: all})
	return err
}

// Wait blocks until the init exited and its output was drained to the log,
// and returns how it exited; at once when it already has.
func (c *Client) Wait(ctx context.Context) (Exit, error) {
	r, err := c.do(ctx, &proto.Request{Op: proto.OpWait})
	if err != nil {
		return Exit{}, err
	}
	if r.Exit == nil {
		return Exit{}, errors.New("shim: exit missing in reply")
	}
	return *r.Exit, nil
}

// Attach returns a stream attached to the init's stdio. Reading it gives the
// selected output streams produced from now on (raw with a terminal, else
// in Docker's stdcopy framing); writing it feeds the container's stdin when
// o.Stdin and the container was created with OpenStdin; CloseWrite (the
// returned conn is a *net.UnixConn underneath and has CloseWrite) is stdin
// EOF. The shim closes the stream once the init exited and its output was
// delivered, or when the attacher reads too slowly.
func (c *Client) Attach(ctx context.Context, o AttachOptions) (net.Conn, error) {
	conn, _, err := c.stream(ctx, &proto.Request{Op: proto.OpAttach, Attach: &o})
	return conn, err
}

// Resize sets the terminal size of the exec execID, or with execID "" of
// the init's pty.
func (c *Client) Resize(ctx context.Context, execID string, height, width uint16) error {
	_, err := c.do(ctx, &proto.Request{Op: proto.OpResize, ExecID: execID, Height: height, Width: width})
	return err
}

// Exec runs p in the running container (p.Terminal selects a pty) and
// returns its pid and a stream like Attach's: its output, and its stdin when
// stdin is true. The stream ends when the process exited and its output was
// delivered; ExecWait returns its exit code. Exec output is not logged.
func (c *Client) Exec(ctx context.Context, execID string, p *specs.Process, stdin bool) (net.Conn, int, error) {
	if execID == "" {
		return nil, 0, fmt.Errorf("%w: shim: empty exec ID", errdefs.ErrInvalidArgument)
	}
	conn, r, err := c.stream(ctx, &proto.Request{Op: proto.OpExec, ExecID: execID, Process: p, Stdin: stdin})
	if err != nil {
		return nil, 0, err
	}
	return conn, r.Pid, nil
}

// ExecWait waits for the exec execID to exit and returns its exit code
// (128+signal when killed by a signal).
func (c *Client) ExecWait(ctx context.Context, execID string) (int, error) {
	r, err := c.do(ctx, &proto.Request{Op: proto.OpExecWait, ExecID: execID})
	if err != nil {
		return 0, err
	}
	return r.Code, nil
}

// Pause freezes the container's processes.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.do(ctx, &proto.Request{Op: proto.OpPause})
	return err
}

// Resume thaws the container's processes.
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.do(ctx, &proto.Request{Op: proto.OpResume})
	return err
}

// Stats returns the container's cgroup statistics with CPUStats,
// MemoryStats, PidsStats, BlkioStats and NumProcs filled; Read, PreRead,
// PreCPUStats, Name, ID and Networks are the caller's.
func (c *Client) Stats(ctx context.Context) (*container.StatsResponse, error) {
	r, err := c.do(ctx, &proto.Request{Op: proto.OpStats})
	if err != nil {
		return nil, err
	}
	var s container.StatsResponse
	if err := json.Unmarshal(r.Stats, &s); err != nil {
		return nil, fmt.Errorf("shim: stats: %w", err)
	}
	return &s, nil
}

// Pids returns the pids (host pid namespace) in the container's cgroup.
func (c *Client) Pids(ctx context.Context) ([]int, error) {
	r, err := c.do(ctx, &proto.Request{Op: proto.OpPids})
	if err != nil {
		return nil, err
	}
	return r.Pids, nil
}

// Update changes the container's cgroup resources. The non-nil parts of r
// (Memory, CPU, Pids, BlockIO, and within Memory and CPU each non-nil
// field) replace the current ones; devices are never changed.
func (c *Client) Update(ctx context.Context, r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	_, err := c.do(ctx, &proto.Request{Op: proto.OpUpdate, Resources: r})
	return err
}

// Delete destroys the container once its init exited (its cgroups and
// libcontainer state), removes the state directory and ends the shim; it
// returns when the shim is gone. It fails with a conflict error while the
// init runs.
func (c *Client) Delete(ctx context.Context) (Exit, error) {
	conn, br, r, err := c.call(ctx, &proto.Request{Op: proto.OpDelete})
	if err != nil {
		return Exit{}, err
	}
	// The shim exits right after its answer: wait for the connection to
	// close, then for the process to be gone.
	io.Copy(io.Discard, br)
	conn.Close()
	c.waitGone(ctx)
	var e Exit
	if r.Exit != nil {
		e = *r.Exit
	}
	return e, nil
}

func (c *Client) waitGone(ctx context.Context) {
	if c.reaped != nil {
		select {
		case <-c.reaped:
		case <-ctx.Done():
		}
		return
	}
	if c.pid <= 0 {
		return
	}
	for i := 0; i < 200; i++ {
		if !procfs.Alive(c.pid) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// do runs one request/reply exchange.
func (c *Client) do(ctx context.Context, req *proto.Request) (*proto.Response, error) {
	conn, _, r, err := c.call(ctx, req)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return r, nil
}

// stream runs a request whose connection becomes a stream after the reply.
func (c *Client) stream(ctx context.Context, req *proto.Request) (net.Conn, *proto.Response, error) {
	conn, br, r, err := c.call(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return &streamConn{UnixConn: conn, r: br}, r, nil
}

// call dials the shim, writes req and reads the reply. On success the
// connection stays open with the reader positioned after the reply; ctx
// only bounds the exchange.
func (c *Client) call(ctx context.Context, req *proto.Request) (*net.UnixConn, *bufio.Reader, *proto.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	conn, err := proto.Dial(c.stateDir)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil, nil, fmt.Errorf("%w (%s): %w", ErrNoShim, c.stateDir, errdefs.ErrUnavailable)
		}
		return nil, nil, nil, fmt.Errorf("shim: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		conn.Close()
		return nil, nil, nil, err
	}
	b = append(b, '\n')
	br := bufio.NewReader(conn)
	var r proto.Response
	if _, err = conn.Write(b); err == nil {
		var line []byte
		line, err = br.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &r)
		}
	}
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return nil, nil, nil, fmt.Errorf("%w (%s): connection closed: %w", ErrNoShim, c.stateDir, errdefs.ErrUnavailable)
		}
		return nil, nil, nil, fmt.Errorf("shim %s: %w", req.Op, err)
	}
	if !stop() {
		// ctx ended while we got the reply: the deadline may be set.
		conn.Close()
		return nil, nil, nil, ctx.Err()
	}
	if r.Error != "" {
		conn.Close()
		return nil, nil, nil, &Error{Msg: r.Error, Kind: r.Kind}
	}
	return conn, br, &r, nil
}

// Error is an error reported by the shim. It unwraps to the matching
// github.com/containerd/errdefs error (not found, conflict, invalid
// argument, unavailable) when the shim classified it.
type Error struct {
	Msg  string
	Kind string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the errdefs class of the error, or nil.
func (e *Error) Unwrap() error {
	switch e.Kind {
	case proto.KindNotFound:
		return errdefs.ErrNotFound
	case proto.KindConflict:
		return errdefs.ErrConflict
	case proto.KindInvalid:
		return errdefs.ErrInvalidArgument
	case proto.KindUnavailable:
		return errdefs.ErrUnavailable
	}
	return nil
}

// streamConn is a shim connection after the reply line: reads go through
// the buffered reader that read the reply.
type streamConn struct {
	*net.UnixConn
	r *bufio.Reader
}

func (s *streamConn) Read(p []byte) (int, error) { return s.r.Read(p) }

// WriteTo lets io.Copy read past the bufio buffer without extra copies.
func (s *streamConn) WriteTo(w io.Writer) (int64, error) { return s.r.WriteTo(w) }
