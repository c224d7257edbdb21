package container

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
)

// linger bounds how long a finished stream waits for the client to close
// its side, after ours is closed, before the connection is dropped.
var linger = 5 * time.Second

// hijacker takes over the connection of an attach or exec start once the
// backend has accepted the request (its streams method is the StreamFunc),
// and closes it when the backend returns (finish).
type hijacker struct {
	ctx       context.Context
	w         http.ResponseWriter
	r         *http.Request
	upgrade   bool
	wantStdin bool

	mu          sync.Mutex
	conn        net.Conn
	stdin       *connReader
	multiplexed bool
	done        bool
}

func newHijacker(ctx context.Context, w http.ResponseWriter, r *http.Request, wantStdin bool) *hijacker {
	return &hijacker{ctx: ctx, w: w, r: r, upgrade: wantsUpgrade(r), wantStdin: wantStdin}
}

// wantsUpgrade reports whether the client asked to switch protocols
// (Upgrade: tcp, Connection: Upgrade), as the docker CLI does; others get a
// plain 200 response whose body is the stream.
func wantsUpgrade(r *http.Request) bool {
	if _, ok := r.Header["Upgrade"]; ok {
		return true
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// streams is the StreamFunc: it hijacks the connection, answers 101 (or
// 200) with the stream's content type, and hands the connection over as
// stdin (when asked for) and output.
func (h *hijacker) streams(multiplexed bool) (io.ReadCloser, io.Writer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil || h.done {
		return nil, nil, errors.New("the connection's streams were already taken")
	}
	// What is left of the request body (the newline after an exec start's
	// JSON) must not reach the process as input.
	if h.r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(h.r.Body, httputils.MaxJSONBody))
	}
	conn, brw, err := http.NewResponseController(h.w).Hijack()
	if err != nil {
		return nil, nil, errors.New("cannot take over the connection: " + err.Error())
	}
	_ = conn.SetDeadline(time.Time{})
	h.conn, h.multiplexed = conn, multiplexed
	// Bytes the client sent early may already sit in the server's reader:
	// stdin reads through it.
	h.stdin = &connReader{conn: conn, r: brw.Reader}

	ct := mediaType(h.ctx, multiplexed)
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\n\r\n"
	if h.upgrade {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ct + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	}
	if _, err := brw.WriteString(head); err != nil {
		return nil, nil, err
	}
	if err := brw.Flush(); err != nil {
		return nil, nil, err
	}
	var stdin io.ReadCloser
	if h.wantStdin {
		stdin = h.stdin
	}
	// Output goes straight to the connection, unbuffered: nothing can be
	// left behind when it is closed, and a net.Conn takes concurrent writes.
	return stdin, connWriter{conn}, nil
}

// finish ends the request after the backend returned err. Before the
// connection was taken over err is answered as usual; after, it can only be
// written into the stream (and logged), and the connection is closed.
func (h *hijacker) finish(err error, log logrus.FieldLogger) error {
	h.mu.Lock()
	conn, stdin, multiplexed := h.conn, h.stdin, h.multiplexed
	h.done = true
	h.mu.Unlock()
	if conn == nil {
		return err
	}
	if err != nil && !isGone(err) {
		log.WithError(err).Error("stream failed")
		msg := []byte(err.Error() + "\r\n")
		if multiplexed {
			msg = frame(streamStdout, msg)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(linger))
		_, _ = conn.Write(msg)
	}
	_ = stdin.Close()
	closeConn(conn)
	return nil
}

// closeConn closes a finished stream without losing its tail. Closing a
// socket that has unread input resets the connection, and a reset can
// destroy output the client has not read yet; so the write side is shut
// (the client sees EOF), input is drained until the client closes or linger
// passes, and only then is the connection closed.
func closeConn(conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		_ = conn.Close()
		return
	}
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(linger))
		_, _ = io.Copy(io.Discard, conn)
		_ = conn.Close()
	}()
}

// connReader is the client's stdin. Close ends it (a blocked Read returns
// io.EOF) without touching the output.
type connReader struct {
	conn   net.Conn
	r      io.Reader
	mu     sync.Mutex // one reader at a time through the bufio.Reader
	closed atomic.Bool
}

func (c *connReader) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, io.EOF
	}
	c.mu.Lock()
	n, err := c.r.Read(p)
	c.mu.Unlock()
	if err != nil && c.closed.Load() {
		err = io.EOF
	}
	return n, err
}

func (c *connReader) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	// Wake a Read blocked on the connection.
	return c.conn.SetReadDeadline(time.Now())
}

// connWriter is the output: Write only, so that the backend cannot close
// the connection under the router.
type connWriter struct{ conn net.Conn }

func (c connWriter) Write(p []byte) (int, error) { return c.conn.Write(p) }
