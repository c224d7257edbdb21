//go:build linux && cgo

package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"

	shim "github.com/berth-engine/berth/container/shim/internal/proto"
)

// attacherQueue is how many output chunks may wait for a slow attacher
// before it is disconnected (the container and its log never wait).
const attacherQueue = 128

type chunk struct {
	stream byte
	b      []byte
}

// broadcaster fans the init's output out to the attachers.
type broadcaster struct {
	mu     sync.Mutex
	subs   map[*attacher]struct{}
	closed bool
}

type attacher struct {
	conn   net.Conn
	ch     chan chunk
	stdout bool
	stderr bool
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: make(map[*attacher]struct{})}
}

// write hands p to every attacher of stream without blocking.
func (b *broadcaster) write(stream byte, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var cp []byte
	for a := range b.subs {
		if (stream == shim.StreamStdout && !a.stdout) || (stream == shim.StreamStderr && !a.stderr) {
			continue
		}
		if cp == nil {
			cp = append([]byte(nil), p...)
		}
		select {
		case a.ch <- chunk{stream, cp}:
		default:
			// Too slow: disconnect rather than stall the container.
			a.conn.Close()
			delete(b.subs, a)
			close(a.ch)
		}
	}
}

// add registers a; it reports false once the output has ended.
func (b *broadcaster) add(a *attacher) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.subs[a] = struct{}{}
	return true
}

func (b *broadcaster) remove(a *attacher) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[a]; ok {
		delete(b.subs, a)
		close(a.ch)
	}
}

// close ends the output: attachers get what is queued, then EOF.
func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for a := range b.subs {
		close(a.ch)
	}
	b.subs = nil
}

// outputSink writes a process's output to a stream connection; after the
// first error it discards, so the process never blocks on a dead client.
type outputSink struct {
	mu     sync.Mutex
	w      io.Writer
	frames *shim.FrameWriter // nil: raw (terminal)
	dead   bool
}

func newSink(c net.Conn, raw bool) *outputSink {
	s := &outputSink{w: c}
	if !raw {
		s.frames = &shim.FrameWriter{W: c}
	}
	return s
}

func (s *outputSink) write(stream byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return
	}
	var err error
	if s.frames != nil {
		_, err = s.frames.WriteFrame(stream, p)
	} else {
		_, err = s.w.Write(p)
	}
	if err != nil {
		s.dead = true
	}
}

func (s *server) attach(c *net.UnixConn, br *bufio.Reader, req *shim.Request) {
	o := shim.AttachOptions{}
	if req.Attach != nil {
		o = *req.Attach
	}
	a := &attacher{conn: c, ch: make(chan chunk, attacherQueue), stdout: o.Stdout, stderr: o.Stderr}
	live := s.out.add(a)
	if err := writeReply(c, &shim.Response{}); err != nil || !live {
		s.out.remove(a)
		c.Close()
		return
	}
	if o.Stdin {
		s.mu.Lock()
		hasStdin := s.stdin != nil
		s.mu.Unlock()
		if hasStdin {
			go s.copyStdin(br)
		}
	}
	sink := newSink(c, s.opts.Terminal)
	for ch := range a.ch {
		sink.write(ch.stream, ch.b)
		if sink.dead {
			s.out.remove(a)
		}
	}
	c.Close()
}

// stdinWriter serializes the writes of several attachers.
type stdinWriter struct{ s *server }

func (w stdinWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	in := w.s.stdin
	w.s.mu.Unlock()
	if in == nil {
		return 0, io.ErrClosedPipe
	}
	w.s.stdinWriteM.Lock()
	defer w.s.stdinWriteM.Unlock()
	return in.Write(p)
}

// copyStdin feeds an attacher's input to the container; with StdinOnce and
// no terminal, its EOF closes the container's stdin, as in Docker. A
// terminal's stdin is never closed by an attacher: its EOF is also how a
// detach (ctrl-p ctrl-q) looks from here, and the container must live on.
func (s *server) copyStdin(r io.Reader) {
	_, err := io.Copy(stdinWriter{s}, r)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		// The attacher went away without a clean EOF: keep stdin open.
		return
	}
	if s.opts.StdinOnce && !s.opts.Terminal {
		s.mu.Lock()
		in := s.stdin
		s.stdin = nil
		s.mu.Unlock()
		if in != nil {
			s.stdinWriteM.Lock()
			in.Close()
			s.stdinWriteM.Unlock()
		}
	}
}

// execProc is one exec'd process.
type execProc struct {
	proc    *libcontainer.Process
	pid     int
	console *os.File
	done    chan struct{}
	code    int
}

func (s *server) exec(c *net.UnixConn, br *bufio.Reader, req *shim.Request) {
	e, outs, stdin, err := s.startExec(req)
	if err != nil {
		writeReply(c, errReply(err))
		c.Close()
		return
	}
	if err := writeReply(c, &shim.Response{Pid: e.pid}); err != nil {
		c.Close()
		c = nil
	}
	var sink *outputSink
	if c != nil {
		sink = newSink(c, e.console != nil)
	} else {
		sink = &outputSink{dead: true}
	}
	var pumps sync.WaitGroup
	for i, f := range outs {
		stream := byte(shim.StreamStdout + i)
		pumps.Add(1)
		go func() {
			defer pumps.Done()
			buf := make([]byte, 32*1024)
			for {
				n, err := f.Read(buf)
				if n > 0 {
					sink.write(stream, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
	if stdin != nil && c != nil {
		go func() {
			io.Copy(stdin, br)
			if e.console != nil {
				stdin.Write([]byte{4})
			} else {
				stdin.Close()
			}
		}()
	}
	ps, werr := e.proc.Wait()
	code := exitCode(ps, werr)
	if !waitTimeout(&pumps, drainGrace) {
		for _, f := range outs {
			f.Close()
		}
		pumps.Wait()
	}
	for _, f := range outs {
		f.Close()
	}
	if stdin != nil && e.console == nil {
		stdin.Close()
	}
	s.mu.Lock()
	e.code = code
	close(e.done)
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// startExec runs the exec's process in the container. outs are the
// process's output (stdout, stderr; or the pty master), stdin its input.
func (s *server) startExec(req *shim.Request) (_ *execProc, outs []*os.File, stdin io.WriteCloser, retErr error) {
	if req.ExecID == "" {
		return nil, nil, nil, invalid(errors.New("exec: empty exec ID"))
	}
	proc, err := execProcess(req.Process)
	if err != nil {
		return nil, nil, nil, err
	}
	s.mu.Lock()
	switch {
	case s.exit != nil || !s.started:
		s.mu.Unlock()
		return nil, nil, nil, &kindError{shim.KindConflict, fmt.Errorf("container is not running")}
	case s.execs[req.ExecID] != nil:
		select {
		case <-s.execs[req.ExecID].done:
		default:
			s.mu.Unlock()
			return nil, nil, nil, conflictf("exec %s is already running", req.ExecID)
		}
	}
	s.mu.Unlock()
	if st, _ := s.ctr.Status(); st == libcontainer.Paused {
		return nil, nil, nil, &kindError{shim.KindConflict, libcontainer.ErrPaused}
	}

	var childEnds, parentEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
		if retErr != nil {
			for _, f := range parentEnds {
				f.Close()
			}
		}
	}()
	var consoleSock *os.File
	terminal := req.Process.Terminal
	if terminal {
		parent, child, err := utils.NewSockPair("console")
		if err != nil {
			return nil, nil, nil, err
		}
		consoleSock = parent
		parentEnds = append(parentEnds, parent)
		childEnds = append(childEnds, child)
		proc.ConsoleSocket = child
	} else {
		for i := 0; i < 2; i++ {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, nil, nil, err
			}
			parentEnds = append(parentEnds, r)
			childEnds = append(childEnds, w)
			outs = append(outs, r)
		}
		proc.Stdout, proc.Stderr = childEnds[0], childEnds[1]
		if req.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, nil, nil, err
			}
			parentEnds = append(parentEnds, w)
			childEnds = append(childEnds, r)
			proc.Stdin = r
			stdin = w
		}
	}
	if err := s.ctr.Run(proc); err != nil {
		return nil, nil, nil, classifyStartError(err)
	}
	for _, f := range childEnds {
		f.Close()
	}
	childEnds = nil
	e := &execProc{proc: proc, done: make(chan struct{})}
	e.pid, _ = proc.Pid()
	if terminal {
		master, err := recvConsole(consoleSock)
		consoleSock.Close()
		if err != nil {
			proc.Signal(unix.SIGKILL)
			proc.Wait()
			return nil, nil, nil, fmt.Errorf("console: %w", err)
		}
		e.console = master
		outs = []*os.File{master}
		if req.Stdin {
			stdin = nopCloser{master}
		}
	}
	s.mu.Lock()
	s.execs[req.ExecID] = e
	s.mu.Unlock()
	return e, outs, stdin, nil
}

// classifyStartError marks errors about the command itself invalid, as
// Docker does.
func classifyStartError(err error) error {
	msg := err.Error()
	for _, m := range []string{"executable file not found", "no such file or directory", "permission denied", "not a directory"} {
		if strings.Contains(msg, m) {
			return invalid(err)
		}
	}
	return err
}

func (s *server) execWait(c *net.UnixConn, req *shim.Request) {
	defer c.Close()
	s.mu.Lock()
	e := s.execs[req.ExecID]
	s.mu.Unlock()
	if e == nil {
		writeReply(c, errReply(&kindError{shim.KindNotFound, fmt.Errorf("no such exec: %s", req.ExecID)}))
		return
	}
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	select {
	case <-e.done:
	case <-gone:
		return
	}
	s.mu.Lock()
	code := e.code
	s.mu.Unlock()
	writeReply(c, &shim.Response{Code: code})
}

var _ = time.Second
