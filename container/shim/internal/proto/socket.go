package proto

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// maxSunPath is the room for a path in sockaddr_un, with its NUL.
const maxSunPath = 108

// withSocketPath calls fn with a path to stateDir/shim.sock short enough for
// a sockaddr_un: the path itself, or, when it is too long, the path through
// /proc/self/fd of an O_PATH descriptor of stateDir.
func withSocketPath(stateDir string, fn func(path string) error) error {
	p := filepath.Join(stateDir, SocketFile)
	if len(p) < maxSunPath {
		return fn(p)
	}
	fd, err := unix.Open(stateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: stateDir, Err: err}
	}
	defer unix.Close(fd)
	return fn(fmt.Sprintf("/proc/self/fd/%d/%s", fd, SocketFile))
}

// Listen creates the shim's socket in stateDir (used by the shim).
func Listen(stateDir string) (*net.UnixListener, error) {
	var l *net.UnixListener
	err := withSocketPath(stateDir, func(p string) error {
		os.Remove(p)
		var err error
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	return l, nil
}

// Dial connects to the shim socket in stateDir.
func Dial(stateDir string) (*net.UnixConn, error) {
	var c *net.UnixConn
	err := withSocketPath(stateDir, func(p string) error {
		var err error
		c, err = net.DialUnix("unix", nil, &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	return c, err
}

// Stream numbers of Docker's stdcopy framing.
const (
	StreamStdin  = 0
	StreamStdout = 1
	StreamStderr = 2
)

// FrameWriter writes Docker's stdcopy framing (an 8-byte header
// [stream,0,0,0,size uint32 big-endian] before each chunk) to W. It is safe
// for concurrent use by the writers it hands out.
type FrameWriter struct {
	mu sync.Mutex
	W  io.Writer
}

// WriteFrame writes p as one frame of stream.
func (f *FrameWriter) WriteFrame(stream byte, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	buf := make([]byte, 8+len(p))
	buf[0] = stream
	binary.BigEndian.PutUint32(buf[4:8], uint32(len(p)))
	copy(buf[8:], p)
	if _, err := f.W.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Stream returns an io.Writer that frames everything written as stream.
func (f *FrameWriter) Stream(stream byte) io.Writer {
	return streamWriter{f, stream}
}

type streamWriter struct {
	f      *FrameWriter
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) { return s.f.WriteFrame(s.stream, p) }
