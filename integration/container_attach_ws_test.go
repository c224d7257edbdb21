package integration

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsAttach opens GET /containers/{name}/attach/ws with query q on berthd's
// socket.
func wsAttach(t *testing.T, d *daemon, version, name, q string) *websocket.Conn {
	t.Helper()
	dialer := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		},
		HandshakeTimeout: 10 * time.Second,
	}
	conn, resp, err := dialer.Dial("ws://localhost/"+version+"/containers/"+name+"/attach/ws?"+q, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("attach/ws %s: %v (HTTP %d)", name, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readWS collects the payloads of messages of kind msgType until want is
// among them or the connection ends.
func readWS(t *testing.T, conn *websocket.Conn, msgType int, want string) string {
	t.Helper()
	var got strings.Builder
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for !strings.Contains(got.String(), want) {
		kind, p, err := conn.ReadMessage()
		if err != nil {
			break
		}
		if kind != msgType {
			t.Errorf("message kind %d, want %d", kind, msgType)
		}
		got.Write(p)
	}
	return got.String()
}

// Attaching over a WebSocket, as browsers and consoles do: input goes in,
// output comes out raw (no stdcopy framing), in binary messages from API
// 1.28 and text ones before; the log is replayed with logs=1.
func TestContainerAttachWebSocket(t *testing.T) {
	t.Parallel()
	d, docker := newContainerDocker(t, daemonOpts{}, false)

	docker.ok("run", "-d", "-i", "--name", "echoer", "busybox", "cat")
	conn := wsAttach(t, d, "v1.44", "echoer", "stream=1&stdin=1&stdout=1&stderr=1")
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hello over ws\n")); err != nil {
		t.Fatal(err)
	}
	if got := readWS(t, conn, websocket.BinaryMessage, "hello over ws\n"); got != "hello over ws\n" {
		t.Errorf("echo through the WebSocket: %q", got)
	}
	// The client leaves; the container (run -d -i: no StdinOnce) keeps
	// its stdin and runs on, as in Docker.
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	time.Sleep(500 * time.Millisecond)
	if st := docker.out("inspect", "-f", "{{.State.Status}}", "echoer"); st != "running" {
		t.Errorf("after the WebSocket client left, echoer is %s", st)
	}
	docker.ok("rm", "-f", "echoer")

	// A finished container's log, both streams raw, in text messages for an
	// API 1.27 client.
	docker.ok("run", "--name", "talker", "busybox", "sh", "-c", "echo out; echo err >&2")
	conn = wsAttach(t, d, "v1.27", "talker", "logs=1&stdout=1&stderr=1")
	got := readWS(t, conn, websocket.TextMessage, "\x00never") // until berthd closes
	if !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") || strings.ContainsRune(got, 0) {
		t.Errorf("log replay over the WebSocket: %q", got)
	}

	// Not a WebSocket handshake, and a missing container: Docker's errors.
	r := d.do("GET", "/v1.44/containers/talker/attach/ws?stream=1", nil)
	expectStatus(t, r, 400, "attach/ws without a handshake")
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
	}}
	if _, resp, err := dialer.Dial("ws://localhost/v1.44/containers/nosuch/attach/ws?stream=1", nil); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Errorf("attach/ws to a missing container: %v %v", err, resp)
	}
}
