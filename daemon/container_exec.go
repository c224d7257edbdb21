package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/container"
)

// execSession is one `docker exec`: created, then started once.
type execSession struct {
	id          string
	containerID string
	req         containertypes.ExecCreateRequest

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode *int
	pid      int
}

// ExecCreate registers an exec in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, name string, req *containertypes.ExecCreateRequest) (string, error) {
	c, err := d.getContainer(name)
	if err != nil {
		return "", err
	}
	if len(req.Cmd) == 0 {
		return "", invalidf("No exec command specified")
	}
	if _, err := parseDetachKeys(req.DetachKeys); err != nil {
		return "", err
	}
	c.Lock()
	running, paused, restarting := c.State.Running, c.State.Paused, c.State.Restarting
	c.Unlock()
	switch {
	case !running:
		return "", conflictf("container %s is not running", c.ID)
	case paused:
		return "", conflictf("Container %s is paused, unpause the container before exec", name)
	case restarting:
		return "", conflictf("Container %s is restarting, wait until the container is running", c.ID)
	}
	s := &execSession{id: container.NewID(), containerID: c.ID, req: *req}
	d.rt.mu.Lock()
	d.rt.execs[s.id] = s
	d.rt.mu.Unlock()
	d.logContainerEvent(c, eventtypes.Action(string(eventtypes.ActionExecCreate)+": "+strings.Join(req.Cmd, " ")), map[string]string{"execID": s.id})
	return s.id, nil
}

func (d *Daemon) getExec(id string) (*execSession, error) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	s := d.rt.execs[id]
	if s == nil {
		return nil, cerrdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
	}
	return s, nil
}

// execIDs lists the container's exec sessions.
func (d *Daemon) execIDs(containerID string) []string {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	var ids []string
	for id, s := range d.rt.execs {
		if s.containerID == containerID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// endExecs forgets the sessions of a container that stopped; a session
// still marked running gets no exit code (Docker reports none either).
func (d *Daemon) endExecs(containerID string) {
	d.rt.mu.Lock()
	defer d.rt.mu.Unlock()
	for id, s := range d.rt.execs {
		if s.containerID != containerID {
			continue
		}
		s.mu.Lock()
		s.running = false
		done := s.started || s.exitCode != nil
		s.mu.Unlock()
		if !done {
			delete(d.rt.execs, id)
		}
	}
}

// ExecStart runs the exec's process through the container's shim.
func (d *Daemon) ExecStart(ctx context.Context, execID string, o containerrouter.ExecStartOptions) error {
	s, err := d.getExec(execID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return conflictf("Error: Exec command %s has already run", execID)
	}
	s.started = true
	s.mu.Unlock()
	c, err := d.getContainer(s.containerID)
	if err != nil {
		return err
	}
	// A process that cannot start gets, as with Docker, 127 (not found) or
	// 126; an attached client reads the error in its stream and the code
	// from inspect.
	failed := func(err error) error {
		code := exitCodeForStartError(err)
		if code == 128 {
			code = 126
		}
		s.mu.Lock()
		s.exitCode = &code
		s.mu.Unlock()
		if o.Detach {
			return startError(err)
		}
		if _, _, serr := o.Streams(!s.req.Tty); serr != nil {
			return serr
		}
		return fmt.Errorf("OCI runtime exec failed: %w", err)
	}
	proc, err := d.execProcess(c, &s.req)
	if err != nil {
		return failed(err)
	}
	cl := d.rt.shimOf(c.ID)
	if cl == nil {
		return conflictf("container %s is not running", c.ID)
	}
	conn, pid, err := cl.Exec(ctx, s.id, proc, s.req.AttachStdin)
	if err != nil {
		return failed(err)
	}
	if cs := o.ConsoleSize; cs != nil && s.req.Tty {
		cl.Resize(ctx, s.id, uint16(cs[0]), uint16(cs[1]))
	}
	s.mu.Lock()
	s.running, s.pid = true, pid
	s.mu.Unlock()
	d.logContainerEvent(c, eventtypes.Action(string(eventtypes.ActionExecStart)+": "+strings.Join(s.req.Cmd, " ")), map[string]string{"execID": s.id})
	finish := func() {
		code, err := cl.ExecWait(context.Background(), s.id)
		if err != nil {
			code = 126
		}
		s.mu.Lock()
		s.running, s.exitCode = false, &code
		s.mu.Unlock()
		d.logContainerEvent(c, eventtypes.ActionExecDie, map[string]string{"execID": s.id, "exitCode": fmt.Sprint(code)})
	}
	if o.Detach {
		go func() {
			defer conn.Close()
			discard(conn)
			finish()
		}()
		return nil
	}
	defer conn.Close()
	stdin, out, err := o.Streams(!s.req.Tty)
	if err != nil {
		conn.Close()
		finish()
		return err
	}
	keys, _ := parseDetachKeys(s.req.DetachKeys)
	if detached := pump(conn, stdin, out, s.req.AttachStdin, keys); detached {
		go func() { discard(conn); finish() }()
		return nil
	}
	finish()
	return nil
}

func discard(conn interface{ Read([]byte) (int, error) }) {
	buf := make([]byte, 32*1024)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// execProcess is the exec's process: the container's own, with the exec's
// command, user, environment and working directory.
func (d *Daemon) execProcess(c *container.Container, req *containertypes.ExecCreateRequest) (*specs.Process, error) {
	c.Lock()
	cfg := *c.Config
	hc := *c.HostConfig
	c.Unlock()
	cfg.Entrypoint, cfg.Cmd = nil, req.Cmd
	cfg.Tty = req.Tty
	if req.User != "" {
		cfg.User = req.User
	}
	if req.WorkingDir != "" {
		cfg.WorkingDir = req.WorkingDir
	}
	for _, e := range req.Env {
		k, _, _ := strings.Cut(e, "=")
		cfg.Env = slices.DeleteFunc(cfg.Env, func(x string) bool { xk, _, _ := strings.Cut(x, "="); return xk == k })
		cfg.Env = append(cfg.Env, e)
	}
	if req.Privileged {
		hc.Privileged = true
	}
	s, err := d.runtimeSpec(c, &cfg, &hc)
	if err != nil {
		return nil, err
	}
	return s.Process, nil
}

// ExecInspect is GET /exec/{id}/json.
func (d *Daemon) ExecInspect(ctx context.Context, execID string) (*containertypes.ExecInspectResponse, error) {
	s, err := d.getExec(execID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &containertypes.ExecInspectResponse{
		ID: s.id, Running: s.running, ExitCode: s.exitCode, CanRemove: false,
		ContainerID: s.containerID, DetachKeys: []byte(s.req.DetachKeys), Pid: s.pid,
		OpenStdin: s.req.AttachStdin, OpenStdout: s.req.AttachStdout, OpenStderr: s.req.AttachStderr,
		ProcessConfig: &containertypes.ExecProcessConfig{
			Tty: s.req.Tty, Entrypoint: s.req.Cmd[0], Arguments: s.req.Cmd[1:], Privileged: &s.req.Privileged, User: s.req.User,
		},
	}
	return r, nil
}

// ExecResize resizes an exec's TTY.
func (d *Daemon) ExecResize(ctx context.Context, execID string, height, width uint16) error {
	s, err := d.getExec(execID)
	if err != nil {
		return err
	}
	cl := d.rt.shimOf(s.containerID)
	if cl == nil {
		return conflictf("container %s is not running", s.containerID)
	}
	return cl.Resize(ctx, execID, height, width)
}
