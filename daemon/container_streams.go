package daemon

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	containertypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"

	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/container/logger/jsonfile"
	"github.com/berth-engine/berth/container/shim"
	"github.com/berth-engine/berth/internal/timestamp"
)

// frameWriter writes Docker's multiplexed framing: an 8-byte header
// [stream, 0, 0, 0, size (big-endian uint32)] before each payload.
func writeFrame(w io.Writer, stream byte, p []byte) error {
	var hdr [8]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := w.Write(append(hdr[:], p...)); err != nil {
		return err
	}
	return nil
}

// ContainerLogs streams the container's json-file log.
func (d *Daemon) ContainerLogs(ctx context.Context, name string, o containerrouter.LogsOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	c.Lock()
	tty, logPath, driver := c.Config.Tty, c.LogPath, c.HostConfig.LogConfig.Type
	stopped := make(chan struct{})
	if o.Follow && (c.State.Running || c.State.Restarting) {
		ch := c.Wait(ctx, containertypes.WaitConditionNextExit)
		go func() {
			select {
			case <-ch:
			case <-ctx.Done():
			}
			close(stopped)
		}()
	} else {
		close(stopped)
	}
	c.Unlock()
	if driver != "json-file" {
		return cerrdefs.ErrNotImplemented.WithMessage("configured logging driver does not support reading")
	}
	ro := jsonfile.ReadOptions{Tail: -1, Follow: o.Follow}
	if ro.Since, err = timestamp.Parse(o.Since); err != nil {
		return err
	}
	if ro.Until, err = timestamp.Parse(o.Until); err != nil {
		return err
	}
	if o.Tail != "" && o.Tail != "all" {
		n, err := strconv.Atoi(o.Tail)
		if err != nil {
			return invalidf("invalid tail %q: must be a number or \"all\"", o.Tail)
		}
		if n >= 0 {
			ro.Tail = n
		}
	}
	out := o.Output(!tty)
	return readLog(ctx, logPath, ro, stopped, o.Stdout, o.Stderr, o.Timestamps, !tty, out)
}

func readLog(ctx context.Context, path string, ro jsonfile.ReadOptions, stopped <-chan struct{}, stdout, stderr, timestamps, multiplexed bool, out io.Writer) error {
	var buf []byte
	err := jsonfile.Read(ctx, path, ro, stopped, func(e jsonfile.Entry) error {
		stream := byte(1)
		if e.Stream == "stderr" {
			stream = 2
			if !stderr {
				return nil
			}
		} else if !stdout {
			return nil
		}
		buf = buf[:0]
		if timestamps {
			buf = e.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
			buf = append(buf, ' ')
		}
		buf = append(buf, e.Line...)
		if multiplexed {
			return writeFrame(out, stream, buf)
		}
		_, err := out.Write(buf)
		return err
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// attachStream is the shim's stream handed to an attach that waited for
// the container's start.
type attachStream struct {
	conn net.Conn
	err  error
}

type pendingAttach struct {
	opts shim.AttachOptions
	ch   chan attachStream
}

// ContainerAttach connects a client to the container's stdio: at once if
// it runs, else at its next start, before its process runs, so no output
// is missed (docker run attaches, then starts).
func (d *Daemon) ContainerAttach(ctx context.Context, name string, o containerrouter.AttachOptions) error {
	c, err := d.getContainer(name)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(o.DetachKeys)
	if err != nil {
		return err
	}
	c.Lock()
	tty, openStdin, paused := c.Config.Tty, c.Config.OpenStdin, c.State.Paused
	logPath := c.LogPath
	c.Unlock()
	if paused {
		return conflictf("you cannot attach to a paused container, unpause it first")
	}
	so := shim.AttachOptions{Stdin: o.Stdin && openStdin, Stdout: o.Stdout, Stderr: o.Stderr}
	// A stream to a container not yet running is queued before the client
	// gets its answer: docker run starts the container as soon as the
	// attach is answered, and its first output must not be missed.
	var p *pendingAttach
	if o.Stream {
		p = d.queueAttach(c, so)
	}
	stdin, out, err := o.Streams(!tty)
	if err != nil {
		d.dropAttach(c, p)
		return err
	}
	if o.Logs && logPath != "" {
		closed := make(chan struct{})
		close(closed)
		readLog(ctx, logPath, jsonfile.ReadOptions{Tail: -1}, closed, o.Stdout, o.Stderr, false, !tty, out)
	}
	if !o.Stream {
		return nil
	}
	so.Stdin = so.Stdin && stdin != nil
	conn, err := d.attachShim(ctx, c, so, p)
	if err != nil {
		// The stream is the client's already: end it, as dockerd does; a
		// failed start is reported by the start request itself.
		d.log.WithError(err).WithField("container", container.ShortID(c.ID)).Debug("attach ended before the container ran")
		return nil
	}
	defer conn.Close()
	d.logContainerEvent(c, eventtypes.ActionAttach, nil)
	detached := pump(conn, stdin, out, so.Stdin, keys)
	if detached {
		d.logContainerEvent(c, eventtypes.ActionDetach, nil)
	}
	return nil
}

// queueAttach registers an attach to be connected at the container's next
// start, before its process runs; it returns nil if the container runs.
func (d *Daemon) queueAttach(c *container.Container, so shim.AttachOptions) *pendingAttach {
	c.Lock()
	defer c.Unlock()
	if c.State.Running {
		return nil
	}
	p := pendingAttach{opts: so, ch: make(chan attachStream, 1)}
	d.rt.mu.Lock()
	d.rt.pending[c.ID] = append(d.rt.pending[c.ID], p)
	d.rt.mu.Unlock()
	return &p
}

// dropAttach withdraws a queued attach (nil: none), closing the stream it
// may have been handed meanwhile.
func (d *Daemon) dropAttach(c *container.Container, p *pendingAttach) {
	if p == nil {
		return
	}
	d.rt.mu.Lock()
	list := d.rt.pending[c.ID]
	for i := range list {
		if list[i].ch == p.ch {
			d.rt.pending[c.ID] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	d.rt.mu.Unlock()
	select {
	case s := <-p.ch:
		if s.conn != nil {
			s.conn.Close()
		}
	default:
	}
}

// attachShim gets an attach stream from the running container's shim, or
// (p queued) waits for the next start.
func (d *Daemon) attachShim(ctx context.Context, c *container.Container, so shim.AttachOptions, p *pendingAttach) (net.Conn, error) {
	if p == nil {
		c.Lock()
		running := c.State.Running
		cl := d.rt.shimOf(c.ID)
		c.Unlock()
		if !running || cl == nil {
			return nil, conflictf("container %s is not running", c.ID)
		}
		return cl.Attach(ctx, so)
	}
	select {
	case s := <-p.ch:
		return s.conn, s.err
	case <-ctx.Done():
		d.dropAttach(c, p)
		return nil, ctx.Err()
	}
}

// connectAttachers hands the attaches that waited for this start their
// streams; the process has not run yet.
func (d *Daemon) connectAttachers(ctx context.Context, c *container.Container, cl *shim.Client) {
	d.rt.mu.Lock()
	list := d.rt.pending[c.ID]
	delete(d.rt.pending, c.ID)
	d.rt.mu.Unlock()
	for _, p := range list {
		conn, err := cl.Attach(ctx, p.opts)
		p.ch <- attachStream{conn: conn, err: err}
	}
}

// failAttachers ends the attaches waiting for a start that failed.
func (d *Daemon) failAttachers(c *container.Container, err error) {
	d.rt.mu.Lock()
	list := d.rt.pending[c.ID]
	delete(d.rt.pending, c.ID)
	d.rt.mu.Unlock()
	for _, p := range list {
		p.ch <- attachStream{err: err}
	}
}

// pump copies the shim stream to the client and the client's stdin to the
// shim until the stream ends or the client types the detach keys; it
// reports a detach.
func pump(conn net.Conn, stdin io.Reader, out io.Writer, useStdin bool, keys []byte) (detached bool) {
	done := make(chan struct{})
	var detach sync.Once
	detachCh := make(chan struct{})
	go func() {
		io.Copy(out, conn)
		close(done)
	}()
	if useStdin && stdin != nil {
		go func() {
			if copyStdin(conn, stdin, keys) {
				detach.Do(func() { close(detachCh) })
				return
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	select {
	case <-done:
		return false
	case <-detachCh:
		return true
	}
}

// copyStdin copies src to dst, watching for the detach sequence; it
// reports whether it saw it.
func copyStdin(dst io.Writer, src io.Reader, keys []byte) bool {
	buf := make([]byte, 32*1024)
	matched := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if len(keys) > 0 {
				var pass []byte
				for _, b := range chunk {
					if b == keys[matched] {
						matched++
						if matched == len(keys) {
							if len(pass) > 0 {
								dst.Write(pass)
							}
							return true
						}
						continue
					}
					if matched > 0 {
						pass = append(pass, keys[:matched]...)
						matched = 0
					}
					pass = append(pass, b)
				}
				chunk = pass
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					return false
				}
			}
		}
		if err != nil {
			return false
		}
	}
}

// parseDetachKeys reads Docker's detach key syntax: "ctrl-p,ctrl-q", "a".
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return []byte{16, 17}, nil
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(k, "ctrl-") && len(k) == 6:
			ch := k[5]
			switch {
			case ch >= 'a' && ch <= 'z':
				out = append(out, ch-'a'+1)
			case ch == '@':
				out = append(out, 0)
			case ch == '[':
				out = append(out, 27)
			case ch == '\\':
				out = append(out, 28)
			case ch == ']':
				out = append(out, 29)
			case ch == '^':
				out = append(out, 30)
			case ch == '_':
				out = append(out, 31)
			default:
				return nil, invalidf("Invalid detach keys (%s) provided", s)
			}
		default:
			return nil, invalidf("Invalid detach keys (%s) provided", s)
		}
	}
	return out, nil
}
