package container

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawConn is a client connection to the test server that speaks HTTP by
// hand, as the docker CLI does on attach and exec.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, ts *httptest.Server) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// request sends a POST; upgrade adds the docker CLI's upgrade headers;
// extra is sent in the same write, right after the request.
func (c *rawConn) request(path, body string, upgrade bool, extra string) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: docker\r\n", path)
	if upgrade {
		b.WriteString("Connection: Upgrade\r\nUpgrade: tcp\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body + extra)
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		c.t.Fatal(err)
	}
}

// head reads the status line and the header lines.
func (c *rawConn) head() (status string, header map[string]string) {
	c.t.Helper()
	header = map[string]string{}
	for i := 0; ; i++ {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading response head: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if i == 0 {
			status = line
			continue
		}
		if line == "" {
			return status, header
		}
		k, v, _ := strings.Cut(line, ":")
		header[strings.ToLower(k)] = strings.TrimSpace(v)
	}
}

func (c *rawConn) rest() string {
	c.t.Helper()
	b, err := io.ReadAll(c.br)
	if err != nil {
		c.t.Fatalf("reading stream: %v (got %d bytes)", err, len(b))
	}
	return string(b)
}

func (c *rawConn) closeWrite() {
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		c.t.Fatal(err)
	}
}

// echo is a backend stream: it takes the streams, reads stdin to its end
// and writes it back prefixed.
func echo(multiplexed bool, streams StreamFunc) error {
	stdin, out, err := streams(multiplexed)
	if err != nil {
		return err
	}
	if stdin == nil {
		_, err = io.WriteString(out, "no stdin")
		return err
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, "echo:"+string(b))
	return err
}

func TestAttachUpgrade(t *testing.T) {
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error { return echo(true, o.Streams) }
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/v1.44/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1&logs=1&detachKeys=ctrl-x", "", true, "")
	status, h := c.head()
	if status != "HTTP/1.1 101 UPGRADED" || h["content-type"] != "application/vnd.docker.multiplexed-stream" ||
		h["connection"] != "Upgrade" || h["upgrade"] != "tcp" {
		t.Fatalf("%q %v", status, h)
	}
	io.WriteString(c.conn, "hello")
	c.closeWrite()
	if got := c.rest(); got != "echo:hello" {
		t.Fatalf("stream %q", got)
	}
	o := f.args(t, "ContainerAttach")[1].(AttachOptions)
	if !o.Stdin || !o.Stdout || !o.Stderr || !o.Logs || !o.Stream || o.DetachKeys != "ctrl-x" {
		t.Fatalf("options %+v", o)
	}
}

func TestAttachPlain200(t *testing.T) {
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error { return echo(false, o.Streams) }
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/containers/web/attach?stream=1&stdout=1", "", false, "")
	status, h := c.head()
	if status != "HTTP/1.1 200 OK" || h["content-type"] != "application/vnd.docker.raw-stream" || h["upgrade"] != "" {
		t.Fatalf("%q %v", status, h)
	}
	// No stdin asked for: the backend gets none.
	if got := c.rest(); got != "no stdin" {
		t.Fatalf("stream %q", got)
	}

	// A multiplexed stream to a client older than 1.42 is called raw.
	f.attach = func(_ context.Context, o AttachOptions) error { return echo(true, o.Streams) }
	c = dial(t, ts)
	c.request("/v1.41/containers/web/attach?stream=1&stdout=1", "", true, "")
	if status, h := c.head(); status != "HTTP/1.1 101 UPGRADED" || h["content-type"] != "application/vnd.docker.raw-stream" {
		t.Fatalf("1.41: %q %v", status, h)
	}
}

// TestAttachEarlyStdin sends stdin in the same packet as the request: the
// bytes the HTTP server already buffered must reach the backend.
func TestAttachEarlyStdin(t *testing.T) {
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error { return echo(true, o.Streams) }
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/containers/web/attach?stream=1&stdin=1&stdout=1", "", true, "early bytes")
	c.closeWrite()
	if status, _ := c.head(); status != "HTTP/1.1 101 UPGRADED" {
		t.Fatal(status)
	}
	if got := c.rest(); got != "echo:early bytes" {
		t.Fatalf("stream %q", got)
	}
}

func TestExecStartHijack(t *testing.T) {
	f := newFake()
	f.exec = func(_ context.Context, o ExecStartOptions) error { return echo(false, o.Streams) }
	ts := newServer(t, f)
	for _, upgrade := range []bool{true, false} {
		c := dial(t, ts)
		// The docker CLI's body ends in a newline, which must not become
		// input.
		c.request("/exec/e1/start", "{\"Detach\":false,\"Tty\":true,\"ConsoleSize\":[5,6]}\n", upgrade, "")
		status, h := c.head()
		want := "HTTP/1.1 200 OK"
		if upgrade {
			want = "HTTP/1.1 101 UPGRADED"
		}
		if status != want || h["content-type"] != "application/vnd.docker.raw-stream" {
			t.Fatalf("upgrade=%v: %q %v", upgrade, status, h)
		}
		io.WriteString(c.conn, "abc")
		c.closeWrite()
		if got := c.rest(); got != "echo:abc" {
			t.Fatalf("upgrade=%v: stream %q", upgrade, got)
		}
		o := f.args(t, "ExecStart")[1].(ExecStartOptions)
		if o.Detach || o.ConsoleSize == nil || *o.ConsoleSize != [2]uint{5, 6} {
			t.Fatalf("options %+v", o)
		}
	}
}

func TestHijackErrorBeforeStreams(t *testing.T) {
	f := newFake()
	f.err = errNoSuch
	ts := newServer(t, f)
	r := do(t, ts, "POST", "/containers/nope/attach?stream=1&stdout=1", "", "Connection", "Upgrade", "Upgrade", "tcp")
	wantError(t, r, 404, "No such container")
	r = do(t, ts, "POST", "/exec/nope/start", `{}`, "Connection", "Upgrade", "Upgrade", "tcp")
	wantError(t, r, 404, "No such container")

	f.err = nil
	f.attach = func(context.Context, AttachOptions) error {
		return errors.New("you cannot attach to a stopped container, start it first")
	}
	r = do(t, ts, "POST", "/containers/web/attach?stream=1&stdout=1", "")
	wantError(t, r, 500, "you cannot attach to a stopped container")
}

func TestHijackErrorAfterStreams(t *testing.T) {
	f := newFake()
	f.exec = func(_ context.Context, o ExecStartOptions) error {
		_, out, err := o.Streams(true)
		if err != nil {
			return err
		}
		io.WriteString(out, "partial")
		return errors.New("process vanished")
	}
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/exec/e1/start", `{}`, true, "")
	if status, h := c.head(); status != "HTTP/1.1 101 UPGRADED" || h["content-type"] != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("%q %v", status, h)
	}
	want := "partial" + string(frame(streamStdout, []byte("process vanished\r\n")))
	if got := c.rest(); got != want {
		t.Fatalf("stream %q, want %q", got, want)
	}

	// The backend cannot take the streams twice.
	f.exec = func(_ context.Context, o ExecStartOptions) error {
		if _, _, err := o.Streams(false); err != nil {
			return err
		}
		_, _, err := o.Streams(false)
		return err
	}
	c = dial(t, ts)
	c.request("/exec/e1/start", `{}`, true, "")
	c.head()
	if got := c.rest(); !strings.Contains(got, "already taken") {
		t.Fatalf("stream %q", got)
	}
}

// TestStdinCloseWakesReader: closing stdin ends a Read blocked on the
// connection, and the output still works after.
func TestStdinCloseWakesReader(t *testing.T) {
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error {
		stdin, out, err := o.Streams(false)
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(stdin)
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		stdin.Close()
		select {
		case err := <-done:
			fmt.Fprintf(out, "read ended: %v", err)
		case <-time.After(5 * time.Second):
			io.WriteString(out, "read still blocked")
		}
		return nil
	}
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/containers/web/attach?stream=1&stdin=1&stdout=1", "", true, "")
	c.head()
	if got := c.rest(); got != "read ended: <nil>" {
		t.Fatalf("stream %q", got)
	}
}

// TestHijackTailNotLost: the backend writes a lot and returns at once,
// while the client has sent input nobody reads and is slow to read; all
// the output must arrive, followed by a clean EOF (no reset).
func TestHijackTailNotLost(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error {
		_, out, err := o.Streams(false)
		if err != nil {
			return err
		}
		_, err = out.Write(payload)
		return err
	}
	ts := newServer(t, f)
	c := dial(t, ts)
	c.request("/containers/web/attach?stream=1&stdout=1", "", true, strings.Repeat("unread input ", 1000))
	c.head()
	time.Sleep(200 * time.Millisecond)
	if got := c.rest(); got != string(payload) {
		t.Fatalf("got %d bytes, want %d", len(got), len(payload))
	}
}

// TestAttachNotHijackable: without a hijackable connection (HTTP/2, a test
// recorder) the StreamFunc fails and the error is answered normally.
func TestAttachNotHijackable(t *testing.T) {
	f := newFake()
	f.attach = func(_ context.Context, o AttachOptions) error {
		_, _, err := o.Streams(false)
		return err
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/containers/web/attach?stream=1&stdout=1", nil)
	err := New(f).attach(context.Background(), rec, req, map[string]string{"name": "web"})
	if err == nil || !strings.Contains(err.Error(), "cannot take over the connection") {
		t.Fatalf("err %v", err)
	}
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("recorder written: %d %q", rec.Code, rec.Body.String())
	}
}
