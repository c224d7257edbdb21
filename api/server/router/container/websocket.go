package container

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/gorilla/websocket"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
)

// attachWebSocket is GET /containers/{id}/attach/ws: an attach over a
// WebSocket, as Docker serves it to browsers and consoles (Portainer's).
// The handshake happens once the backend has accepted the attach. Input
// arrives in messages of either kind; output leaves in binary messages
// (text before API 1.28, as Docker), each stream's bytes raw: a WebSocket
// client gets no stdcopy framing, so without a TTY stdout and stderr are
// interleaved as written.
func (cr *Router) attachWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return cerrdefs.ErrInvalidArgument.WithMessage("not a WebSocket handshake: GET /containers/{id}/attach/ws needs Connection: Upgrade and Upgrade: websocket (use POST /containers/{id}/attach otherwise)")
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()
	msgType := websocket.BinaryMessage
	if versionBefore(ctx, "1.28") {
		msgType = websocket.TextMessage
	}
	s := &wsStreams{w: w, r: r, msgType: msgType}
	err := cr.b.ContainerAttach(ctx, vars["name"], AttachOptions{
		Streams:    s.streams,
		Stdin:      httputils.BoolValue(r, "stdin"),
		Stdout:     httputils.BoolValue(r, "stdout"),
		Stderr:     httputils.BoolValue(r, "stderr"),
		Logs:       httputils.BoolValue(r, "logs"),
		Stream:     httputils.BoolValue(r, "stream"),
		DetachKeys: r.Form.Get("detachKeys"),
	})
	return s.finish(err, cr.log.WithField("container", vars["name"]))
}

// upgrader accepts any origin, as Docker's handler does: the API socket's
// permissions are the access control.
var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// wsStreams is the StreamFunc of a WebSocket attach and its teardown.
type wsStreams struct {
	w       http.ResponseWriter
	r       *http.Request
	msgType int

	mu    sync.Mutex
	conn  *websocket.Conn
	out   *wsWriter
	demux *io.PipeWriter // set when the backend's output is stdcopy-framed
	idle  chan struct{}  // closed when the demultiplexer has written everything
}

func (s *wsStreams) streams(multiplexed bool) (io.ReadCloser, io.Writer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return nil, nil, errors.New("the connection's streams were already taken")
	}
	conn, err := upgrader.Upgrade(s.w, s.r, nil)
	if err != nil {
		return nil, nil, err
	}
	s.conn = conn
	s.out = &wsWriter{conn: conn, msgType: s.msgType}
	var out io.Writer = s.out
	if multiplexed {
		pr, pw := io.Pipe()
		s.demux, s.idle = pw, make(chan struct{})
		go func() {
			defer close(s.idle)
			_, err := stdcopy.StdCopy(s.out, s.out, pr)
			pr.CloseWithError(err)
		}()
		out = pw
	}
	return &wsReader{conn: conn}, out, nil
}

// finish ends the request after the backend returned err: before the
// handshake err is answered as usual; after, it is written into the stream
// and the WebSocket is closed with a close message.
func (s *wsStreams) finish(err error, log logrus.FieldLogger) error {
	s.mu.Lock()
	conn, out, demux, idle := s.conn, s.out, s.demux, s.idle
	s.mu.Unlock()
	if conn == nil {
		return err
	}
	if demux != nil {
		demux.Close()
		<-idle
	}
	if err != nil && !isGone(err) {
		log.WithError(err).Error("stream failed")
		_, _ = out.Write([]byte(err.Error() + "\r\n"))
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(linger))
	return conn.Close()
}

// wsWriter sends each write as one message; the backend may write from
// more than one goroutine, a WebSocket takes one writer at a time.
type wsWriter struct {
	mu      sync.Mutex
	conn    *websocket.Conn
	msgType int
}

func (w *wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.conn.WriteMessage(w.msgType, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// wsReader is the client's input: the payloads of its messages, in order;
// its close message is the end of input.
type wsReader struct {
	conn *websocket.Conn
	cur  io.Reader
}

func (r *wsReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			_, msg, err := r.conn.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
					return 0, io.EOF
				}
				return 0, err
			}
			r.cur = msg
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Close is a no-op: the connection is closed by finish.
func (r *wsReader) Close() error { return nil }
