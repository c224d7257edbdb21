//go:build linux && cgo

// Package server is the libcontainer side of the container shim: what
// `berth-shim serve` and `berth-shim cleanup` run. It is imported only by
// cmd/berth-shim (it needs cgo); berthd uses package shim.
package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runc/libcontainer/utils"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/container/logger/jsonfile"
	shim "github.com/berth-engine/berth/container/shim/internal/proto"
)

// cgroupsFile in the state dir records the container's cgroup paths before
// they are created, for `berth-shim cleanup`.
const cgroupsFile = "cgroups.json"

// drainGrace bounds how long output is drained after a process exited
// (a process outside the container's pid namespace may hold its stdio).
const drainGrace = 5 * time.Second

// server is one shim: one container.
type server struct {
	opts shim.Options
	spec *specs.Spec
	ctr  *libcontainer.Container
	init *libcontainer.Process
	pid  int
	l    *net.UnixListener

	cgroupPaths map[string]string
	out         *broadcaster
	pumps       sync.WaitGroup
	logw        *jsonfile.Writer
	console     *os.File // init's pty master (Terminal)
	outFiles    []*os.File

	mu          sync.Mutex
	started     bool
	stdin       io.WriteCloser // nil without OpenStdin (or once closed)
	exit        *shim.Exit
	exited      chan struct{}
	recorded    chan struct{} // closed once exit.json is written
	execs       map[string]*execProc
	deleting    bool
	resources   *specs.LinuxResources // current resources for Update
	done        chan struct{}         // closed when the shim should exit
	stdinWriteM sync.Mutex
	trim        trimmer
}

// ServeWarm is a shim started ahead of need (shim.Spawner): it waits for
// the state dir of its container on stdin (which must be directly under
// poolDir), moves its stdout and stderr to that state dir's log (so that
// /proc/<pid>/fd/1 names its container, as a shim started by Serve's), then
// serves like Serve. It exits quietly when stdin closes first.
func ServeWarm(poolDir string) int {
	warmJSON()
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return 0
	}
	stateDir := filepath.Clean(strings.TrimSpace(line))
	if filepath.Dir(stateDir) != filepath.Clean(poolDir) {
		fmt.Fprintf(os.Stderr, "berth-shim: state dir %q is not in %s\n", stateDir, poolDir)
		return 2
	}
	if logf, err := os.OpenFile(filepath.Join(stateDir, shim.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600); err == nil {
		unix.Dup3(int(logf.Fd()), 1, 0)
		unix.Dup3(int(logf.Fd()), 2, 0)
		logf.Close()
	}
	if null, err := os.Open(os.DevNull); err == nil {
		unix.Dup3(int(null.Fd()), 0, 0)
		null.Close()
	}
	return Serve(stateDir)
}

// Serve runs `berth-shim serve stateDir`: it creates the container described
// by stateDir/shim.json, reports readiness on the fd named by
// shim.ReadyFdEnv, serves requests until Delete and returns the process
// exit code.
func Serve(stateDir string) int {
	ready := readyPipe()
	report := func(r shim.Ready) {
		if ready != nil {
			json.NewEncoder(ready).Encode(r)
			ready.Close()
			ready = nil
		}
	}
	// The daemon stops containers with Kill; signals meant for a process
	// group or a terminal must not end the shim. Notify, not Ignore: an
	// ignored disposition would be inherited by the container.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGPIPE)
	go func() {
		for range sigs {
		}
	}()

	s, err := newServer(stateDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth-shim: %v\n", err)
		report(shim.Ready{Error: err.Error()})
		return 1
	}
	report(shim.Ready{Pid: s.pid})

	// The shim lives as long as its container: once idle it keeps its
	// heap small (see trim).
	s.trim.touch()

	go s.acceptLoop()
	<-s.done
	return 0
}

func readyPipe() *os.File {
	v := os.Getenv(shim.ReadyFdEnv)
	os.Unsetenv(shim.ReadyFdEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "ready")
}

func newServer(stateDir string) (_ *server, retErr error) {
	o, err := shim.ReadOptions(stateDir)
	if err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.StateDir != stateDir {
		return nil, fmt.Errorf("state dir %s holds the options of %s", stateDir, o.StateDir)
	}
	if err := os.WriteFile(filepath.Join(stateDir, shim.PidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	s := &server{
		opts:     o,
		exited:   make(chan struct{}),
		recorded: make(chan struct{}),
		execs:    make(map[string]*execProc),
		done:     make(chan struct{}),
		out:      newBroadcaster(),
	}
	if s.l, err = shim.Listen(stateDir); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			s.l.Close()
		}
	}()
	if err := s.create(); err != nil {
		return nil, err
	}
	return s, nil
}

// create creates the libcontainer container and starts its init, blocked
// before the exec of the user's program. On failure nothing it made is
// left.
func (s *server) create() (retErr error) {
	o := &s.opts
	b, err := os.ReadFile(filepath.Join(o.Bundle, "config.json"))
	if err != nil {
		return err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	if spec.Process == nil {
		return errors.New("config.json: no process")
	}
	s.spec = &spec
	if spec.Linux != nil && spec.Linux.Resources != nil {
		s.resources = spec.Linux.Resources
	} else {
		s.resources = &specs.LinuxResources{}
	}
	// specconv takes the bundle from the working directory.
	if err := os.Chdir(o.Bundle); err != nil {
		return err
	}
	spec.Process.Terminal = o.Terminal
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: o.ID,
		Spec:       &spec,
	})
	if err != nil {
		return err
	}
	if cfg.OomScoreAdj != nil {
		if cur := currentOOMScoreAdj(); *cfg.OomScoreAdj < cur {
			return fmt.Errorf("oom_score_adj %d is below the shim's %d: lowering it needs CAP_SYS_RESOURCE", *cfg.OomScoreAdj, cur)
		}
	}
	if cfg.Capabilities != nil {
		cfg.Capabilities = filterCaps(cfg.Capabilities)
	}
	proc, err := newProcess(spec.Process, true)
	if err != nil {
		return err
	}

	ctr, err := libcontainer.Create(o.RuntimeRoot, o.ID, cfg)
	if err != nil {
		return err
	}
	s.ctr = ctr
	if st, err := ctr.State(); err == nil {
		s.cgroupPaths = st.CgroupPaths
		if b, err := json.Marshal(st.CgroupPaths); err == nil {
			shim.WriteFileAtomic(filepath.Join(o.StateDir, cgroupsFile), b, 0o600)
		}
	}
	defer func() {
		if retErr != nil {
			ctr.Destroy()
			removeCgroups(s.cgroupPaths)
			os.RemoveAll(filepath.Join(o.RuntimeRoot, o.ID))
		}
	}()

	if o.LogPath != "" {
		s.logw, err = jsonfile.NewWriter(o.LogPath, jsonfile.WriterOptions{MaxSize: o.LogMaxSize, MaxFiles: o.LogMaxFiles})
		if err != nil {
			return fmt.Errorf("log: %w", err)
		}
		defer func() {
			if retErr != nil {
				s.logw.Close()
			}
		}()
	}

	// Stdio. Child ends are closed once the init has them.
	var childEnds []*os.File
	closeChildEnds := func() {
		for _, f := range childEnds {
			f.Close()
		}
		childEnds = nil
	}
	defer closeChildEnds()
	var parentEnds []*os.File
	defer func() {
		if retErr != nil {
			for _, f := range parentEnds {
				f.Close()
			}
		}
	}()
	var consoleSock *os.File
	if o.Terminal {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return err
		}
		consoleSock = parent
		parentEnds = append(parentEnds, parent)
		childEnds = append(childEnds, child)
		proc.ConsoleSocket = child
	} else {
		or, ow, err := os.Pipe()
		if err != nil {
			return err
		}
		er, ew, err := os.Pipe()
		if err != nil {
			or.Close()
			ow.Close()
			return err
		}
		parentEnds = append(parentEnds, or, er)
		childEnds = append(childEnds, ow, ew)
		proc.Stdout, proc.Stderr = ow, ew
		s.outFiles = []*os.File{or, er}
		if o.OpenStdin {
			ir, iw, err := os.Pipe()
			if err != nil {
				return err
			}
			parentEnds = append(parentEnds, iw)
			childEnds = append(childEnds, ir)
			proc.Stdin = ir
			s.stdin = iw
		}
	}

	if err := ctr.Start(proc); err != nil {
		return err
	}
	s.init = proc
	// Keep only what Update needs of the spec (the seccomp profile alone is
	// a good part of the shim's heap).
	min := &specs.Spec{Linux: &specs.Linux{}}
	if spec.Linux != nil {
		min.Linux.CgroupsPath = spec.Linux.CgroupsPath
	}
	s.spec = min
	closeChildEnds()
	if s.pid, err = proc.Pid(); err != nil {
		proc.Signal(unix.SIGKILL)
		proc.Wait()
		return err
	}
	if o.Terminal {
		master, err := recvConsole(consoleSock)
		consoleSock.Close()
		if err != nil {
			proc.Signal(unix.SIGKILL)
			proc.Wait()
			return fmt.Errorf("console: %w", err)
		}
		s.console = master
		s.outFiles = []*os.File{master}
		if o.OpenStdin {
			s.stdin = nopCloser{master}
		}
	}
	s.startPumps()
	go s.waitInit()
	return nil
}

// recvConsole receives the pty master from the init and makes it
// non-blocking, so that the runtime poller serves it and Close ends a Read.
func recvConsole(sock *os.File) (*os.File, error) {
	f, err := utils.RecvFile(sock)
	if err != nil {
		return nil, err
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// startPumps copies the init's output to the log and the attachers.
func (s *server) startPumps() {
	streams := []byte{shim.StreamStdout, shim.StreamStderr}
	names := []string{"stdout", "stderr"}
	for i, f := range s.outFiles {
		var w io.WriteCloser
		if s.logw != nil {
			w = s.logw.StreamWriter(names[i])
		}
		s.pumps.Add(1)
		go func(f *os.File, stream byte, w io.WriteCloser) {
			defer s.pumps.Done()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					if w != nil {
						w.Write(buf[:n])
					}
					s.out.write(stream, buf[:n])
				}
				if err != nil {
					break
				}
			}
			if w != nil {
				w.Close()
			}
		}(f, streams[i], w)
	}
}

// waitInit waits for the init to exit, drains its output, answers waiters
// and records the exit (exit.json). The shim then waits for Delete.
func (s *server) waitInit() {
	ps, err := s.init.Wait()
	code := exitCode(ps, err)
	at := time.Now().UTC()

	// Processes outside the pid namespace, and execs, do not outlive the init.
	s.killAll()

	if !waitTimeout(&s.pumps, drainGrace) {
		for _, f := range s.outFiles {
			f.Close()
		}
		s.pumps.Wait()
	}
	for _, f := range s.outFiles {
		f.Close()
	}
	if s.logw != nil {
		if err := s.logw.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "berth-shim: log: %v\n", err)
		}
	}
	e := &shim.Exit{Code: code, OOMKilled: oomKilled(s.cgroupPaths), At: at}
	s.mu.Lock()
	s.exit = e
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
	close(s.exited)
	s.mu.Unlock()
	s.out.close()
	// After the waiters: the file is for a berthd that finds this shim
	// gone, and this shim keeps the exit until Delete (which waits for
	// the file, to remove the state dir).
	if b, err := json.Marshal(e); err == nil {
		if err := shim.WriteFileAtomic(filepath.Join(s.opts.StateDir, shim.ExitFile), b, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "berth-shim: %s: %v\n", shim.ExitFile, err)
		}
	}
	close(s.recorded)
}

func (s *server) killAll() {
	s.mu.Lock()
	for _, e := range s.execs {
		select {
		case <-e.done:
		default:
			e.proc.Signal(unix.SIGKILL)
		}
	}
	s.mu.Unlock()
	if pids, err := s.ctr.Processes(); err == nil {
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	ch := make(chan struct{})
	go func() {
		wg.Wait()
		close(ch)
	}()
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the exit status, or 128+signal.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth-shim: wait: %v\n", err)
		}
		return 255
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
	return ps.ExitCode()
}

// oomKilled reads the OOM kill count of the memory cgroup.
func oomKilled(paths map[string]string) bool {
	if p, ok := paths["memory"]; ok {
		if readKeyed(filepath.Join(p, "memory.oom_control"), "oom_kill") > 0 {
			return true
		}
	}
	if p, ok := paths[""]; ok {
		return readKeyed(filepath.Join(p, "memory.events"), "oom_kill") > 0
	}
	return false
}

func readKeyed(path, key string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

func currentOOMScoreAdj() int {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (s *server) acceptLoop() {
	for {
		c, err := s.l.AcceptUnix()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go s.handle(c)
	}
}

// reply is one answer; a nil error means success.
func writeReply(c net.Conn, r *shim.Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = c.Write(append(b, '\n'))
	return err
}

type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func conflictf(format string, a ...any) error {
	return &kindError{shim.KindConflict, fmt.Errorf(format, a...)}
}

func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &kindError{shim.KindInvalid, err}
}

func errReply(err error) *shim.Response {
	r := &shim.Response{Error: err.Error()}
	var ke *kindError
	switch {
	case errors.As(err, &ke):
		r.Kind = ke.kind
	case errors.Is(err, libcontainer.ErrNotRunning), errors.Is(err, libcontainer.ErrNotPaused),
		errors.Is(err, libcontainer.ErrPaused), errors.Is(err, libcontainer.ErrRunning):
		r.Kind = shim.KindConflict
	}
	return r
}

func (s *server) handle(c *net.UnixConn) {
	defer s.trim.touch()
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A long request (an exec with a big environment).
		rest, err2 := br.ReadBytes('\n')
		line, err = append(append([]byte(nil), line...), rest...), err2
	}
	if err != nil {
		c.Close()
		return
	}
	var req shim.Request
	if err := json.Unmarshal(line, &req); err != nil {
		writeReply(c, errReply(invalid(fmt.Errorf("bad request: %w", err))))
		c.Close()
		return
	}
	switch req.Op {
	case shim.OpAttach:
		s.attach(c, br, &req)
		return
	case shim.OpExec:
		s.exec(c, br, &req)
		return
	case shim.OpWait:
		s.wait(c)
		return
	case shim.OpExecWait:
		s.execWait(c, &req)
		return
	case shim.OpDelete:
		s.delete(c)
		return
	}
	var r *shim.Response
	switch req.Op {
	case shim.OpState:
		r, err = s.state()
	case shim.OpStart:
		err = s.start()
	case shim.OpKill:
		err = s.kill(syscall.Signal(req.Signal), req.All)
	case shim.OpResize:
		err = s.resize(req.ExecID, req.Height, req.Width)
	case shim.OpPause:
		err = s.pause()
	case shim.OpResume:
		err = s.resume()
	case shim.OpStats:
		r, err = s.stats()
	case shim.OpPids:
		var pids []int
		pids, err = s.ctr.Processes()
		r = &shim.Response{Pids: pids}
	case shim.OpUpdate:
		err = s.update(req.Resources)
	default:
		err = invalid(fmt.Errorf("unknown operation %q", req.Op))
	}
	if err != nil {
		r = errReply(err)
	} else if r == nil {
		r = &shim.Response{}
	}
	writeReply(c, r)
	c.Close()
}

func (s *server) state() (*shim.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &shim.State{Pid: s.pid}
	if s.exit != nil {
		e := *s.exit
		st.Status, st.Exit = shim.StatusStopped, &e
		return &shim.Response{State: st}, nil
	}
	status, err := s.ctr.Status()
	if err != nil {
		return nil, err
	}
	switch status {
	case libcontainer.Created:
		st.Status = shim.StatusCreated
	case libcontainer.Paused:
		st.Status = shim.StatusPaused
	default:
		// Running, or Stopped while the exit is being recorded.
		st.Status = shim.StatusRunning
		if !s.started {
			st.Status = shim.StatusCreated
		}
	}
	return &shim.Response{State: st}, nil
}

func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return conflictf("container has exited")
	}
	if s.started {
		return conflictf("container is already started")
	}
	if err := s.ctr.Exec(); err != nil {
		return err
	}
	s.started = true
	return nil
}

func (s *server) kill(sig syscall.Signal, all bool) error {
	if sig <= 0 || sig > 64 {
		return invalid(fmt.Errorf("invalid signal %d", sig))
	}
	s.mu.Lock()
	exited := s.exit != nil
	s.mu.Unlock()
	if exited {
		return &kindError{shim.KindConflict, libcontainer.ErrNotRunning}
	}
	if !all {
		return s.ctr.Signal(sig)
	}
	pids, err := s.ctr.Processes()
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		// Killing in a frozen v1 cgroup waits for the thaw.
		if st, _ := s.ctr.Status(); st == libcontainer.Paused {
			defer s.ctr.Resume()
		}
	}
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && err != unix.ESRCH {
			return err
		}
	}
	return nil
}

func (s *server) pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return &kindError{shim.KindConflict, libcontainer.ErrNotRunning}
	}
	return s.ctr.Pause()
}

func (s *server) resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return &kindError{shim.KindConflict, libcontainer.ErrNotRunning}
	}
	return s.ctr.Resume()
}

func (s *server) resize(execID string, h, w uint16) error {
	var f *os.File
	if execID == "" {
		f = s.console
	} else {
		s.mu.Lock()
		e := s.execs[execID]
		s.mu.Unlock()
		if e == nil {
			return &kindError{shim.KindNotFound, fmt.Errorf("no such exec: %s", execID)}
		}
		f = e.console
	}
	if f == nil {
		return conflictf("the process has no terminal")
	}
	ws := &unix.Winsize{Row: h, Col: w}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); err != nil {
		return err
	}
	return ierr
}

// wait answers once the init exited; a client going away ends it.
func (s *server) wait(c *net.UnixConn) {
	defer c.Close()
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	select {
	case <-s.exited:
	case <-gone:
		return
	}
	s.mu.Lock()
	e := *s.exit
	s.mu.Unlock()
	writeReply(c, &shim.Response{Exit: &e})
}

func (s *server) delete(c *net.UnixConn) {
	s.mu.Lock()
	if s.exit == nil {
		s.mu.Unlock()
		writeReply(c, errReply(conflictf("container is running: stop it before removing")))
		c.Close()
		return
	}
	if s.deleting {
		s.mu.Unlock()
		writeReply(c, errReply(conflictf("container is being deleted")))
		c.Close()
		return
	}
	s.deleting = true
	e := *s.exit
	s.mu.Unlock()
	<-s.recorded

	if err := s.ctr.Destroy(); err != nil {
		fmt.Fprintf(os.Stderr, "berth-shim: destroy: %v\n", err)
	}
	removeCgroups(s.cgroupPaths)
	os.RemoveAll(filepath.Join(s.opts.RuntimeRoot, s.opts.ID))
	s.l.Close()
	if err := os.RemoveAll(s.opts.StateDir); err != nil {
		s.mu.Lock()
		s.deleting = false
		s.mu.Unlock()
		writeReply(c, errReply(err))
		c.Close()
		return
	}
	writeReply(c, &shim.Response{Exit: &e})
	// The connection closes when the process exits: the client waits for
	// that.
	close(s.done)
}

// specProcess returns the process of an exec request.
func execProcess(p *specs.Process) (*libcontainer.Process, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, invalid(errors.New("exec: no command"))
	}
	return newProcess(p, false)
}
