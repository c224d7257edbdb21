package container

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/types/filters"
)

// fake is a Backend that records each call's arguments under the method's
// name and answers with err (nil: success) or the hooks' results.
type fake struct {
	mu    sync.Mutex
	calls map[string][]any
	err   error

	createResp container.CreateResponse
	list       []container.Summary
	changes    []container.FilesystemChange
	stat       *container.PathStat
	archive    string
	waitCh     chan container.WaitResponse
	pruneRep   *container.PruneReport
	updateResp *container.UpdateResponse

	logs   func(ctx context.Context, o LogsOptions) error
	attach func(ctx context.Context, o AttachOptions) error
	exec   func(ctx context.Context, o ExecStartOptions) error
	stats  func(ctx context.Context, o StatsOptions) error
	export func(out io.Writer) error
}

func newFake() *fake { return &fake{calls: map[string][]any{}} }

func (f *fake) rec(method string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method] = args
	return f.err
}

// args returns the arguments of the last call of method, failing the test
// when there was none.
func (f *fake) args(t *testing.T, method string) []any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.calls[method]
	if !ok {
		t.Fatalf("%s was not called (calls: %v)", method, f.calls)
	}
	return a
}

func (f *fake) called(method string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.calls[method]
	return ok
}

func (f *fake) ContainerCreate(_ context.Context, c CreateConfig) (container.CreateResponse, error) {
	return f.createResp, f.rec("ContainerCreate", c)
}
func (f *fake) ContainerStart(_ context.Context, name string) error {
	return f.rec("ContainerStart", name)
}
func (f *fake) ContainerStop(_ context.Context, name string, o StopOptions) error {
	return f.rec("ContainerStop", name, o)
}
func (f *fake) ContainerRestart(_ context.Context, name string, o StopOptions) error {
	return f.rec("ContainerRestart", name, o)
}
func (f *fake) ContainerKill(_ context.Context, name, signal string) error {
	return f.rec("ContainerKill", name, signal)
}
func (f *fake) ContainerWait(_ context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error) {
	if err := f.rec("ContainerWait", name, cond); err != nil {
		return nil, err
	}
	return f.waitCh, nil
}
func (f *fake) ContainerRemove(_ context.Context, name string, o RemoveOptions) error {
	return f.rec("ContainerRemove", name, o)
}
func (f *fake) Containers(_ context.Context, o ListOptions) ([]container.Summary, error) {
	return f.list, f.rec("Containers", o)
}
func (f *fake) ContainerInspect(_ context.Context, name string, size bool) (*container.InspectResponse, error) {
	if err := f.rec("ContainerInspect", name, size); err != nil {
		return nil, err
	}
	return &container.InspectResponse{ID: "abc", Name: "/" + name}, nil
}
func (f *fake) ContainerLogs(ctx context.Context, name string, o LogsOptions) error {
	if err := f.rec("ContainerLogs", name, o); err != nil {
		return err
	}
	if f.logs != nil {
		return f.logs(ctx, o)
	}
	return nil
}
func (f *fake) ContainerAttach(ctx context.Context, name string, o AttachOptions) error {
	if err := f.rec("ContainerAttach", name, o); err != nil {
		return err
	}
	return f.attach(ctx, o)
}
func (f *fake) ContainerResize(_ context.Context, name string, h, w uint16) error {
	return f.rec("ContainerResize", name, h, w)
}
func (f *fake) ContainerTop(_ context.Context, name, psArgs string) (*container.TopResponse, error) {
	if err := f.rec("ContainerTop", name, psArgs); err != nil {
		return nil, err
	}
	return &container.TopResponse{Titles: []string{"PID"}, Processes: [][]string{{"1"}}}, nil
}
func (f *fake) ContainerPause(_ context.Context, name string) error {
	return f.rec("ContainerPause", name)
}
func (f *fake) ContainerUnpause(_ context.Context, name string) error {
	return f.rec("ContainerUnpause", name)
}
func (f *fake) ContainerRename(_ context.Context, oldName, newName string) error {
	return f.rec("ContainerRename", oldName, newName)
}
func (f *fake) ContainerUpdate(_ context.Context, name string, u *container.UpdateConfig) (*container.UpdateResponse, error) {
	return f.updateResp, f.rec("ContainerUpdate", name, u)
}
func (f *fake) ContainerStats(ctx context.Context, name string, o StatsOptions) error {
	if err := f.rec("ContainerStats", name, o); err != nil {
		return err
	}
	if f.stats != nil {
		return f.stats(ctx, o)
	}
	return o.Output(&container.StatsResponse{ID: name})
}
func (f *fake) ContainerChanges(_ context.Context, name string) ([]container.FilesystemChange, error) {
	return f.changes, f.rec("ContainerChanges", name)
}
func (f *fake) ContainerExport(_ context.Context, name string, out io.Writer) error {
	if err := f.rec("ContainerExport", name); err != nil {
		return err
	}
	if f.export != nil {
		return f.export(out)
	}
	_, err := io.WriteString(out, "tar-bytes")
	return err
}
func (f *fake) ContainerStatPath(_ context.Context, name, path string) (*container.PathStat, error) {
	return f.stat, f.rec("ContainerStatPath", name, path)
}
func (f *fake) ContainerArchivePath(_ context.Context, name, path string) (io.ReadCloser, *container.PathStat, error) {
	if err := f.rec("ContainerArchivePath", name, path); err != nil {
		return nil, nil, err
	}
	return io.NopCloser(strings.NewReader(f.archive)), f.stat, nil
}
func (f *fake) ContainerExtractToDir(_ context.Context, name, path string, o ExtractOptions, content io.Reader) error {
	b, _ := io.ReadAll(content)
	return f.rec("ContainerExtractToDir", name, path, o, string(b))
}
func (f *fake) ContainersPrune(_ context.Context, a filters.Args) (*container.PruneReport, error) {
	return f.pruneRep, f.rec("ContainersPrune", a)
}
func (f *fake) ContainerCommit(_ context.Context, o CommitOptions) (string, error) {
	return "sha256:1234", f.rec("ContainerCommit", o)
}
func (f *fake) ExecCreate(_ context.Context, name string, req *container.ExecCreateRequest) (string, error) {
	return "exec1", f.rec("ExecCreate", name, req)
}
func (f *fake) ExecStart(ctx context.Context, execID string, o ExecStartOptions) error {
	if err := f.rec("ExecStart", execID, o); err != nil {
		return err
	}
	if f.exec != nil {
		return f.exec(ctx, o)
	}
	return nil
}
func (f *fake) ExecInspect(_ context.Context, execID string) (*container.ExecInspectResponse, error) {
	if err := f.rec("ExecInspect", execID); err != nil {
		return nil, err
	}
	return &container.ExecInspectResponse{ID: execID, Running: true}, nil
}
func (f *fake) ExecResize(_ context.Context, execID string, h, w uint16) error {
	return f.rec("ExecResize", execID, h, w)
}

var _ Backend = (*fake)(nil)

// newServer serves the router over the real API server (versions
// 1.24-1.44, middleware and all) on a real listener.
func newServer(t *testing.T, f *fake) *httptest.Server {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := server.New(server.Config{Versions: middleware.Versions{Min: "1.24", Max: "1.44", Server: "test"}, Log: log}, New(f).WithLogger(log))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, ts *httptest.Server, method, path, body string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// errMessage is the message of a Docker error body.
func errMessage(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Message == "" {
		t.Fatalf("error body %q is not {\"message\": ...}", r.body)
	}
	return e.Message
}

func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %q", r.code, code, r.body)
	}
}

func wantError(t *testing.T, r response, code int, msg string) {
	t.Helper()
	wantStatus(t, r, code)
	if got := errMessage(t, r); !strings.Contains(got, msg) {
		t.Fatalf("message %q, want it to contain %q", got, msg)
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}

var errNoSuch = cerrdefs.ErrNotFound.WithMessage("No such container: nope")
