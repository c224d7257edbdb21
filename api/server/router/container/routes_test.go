package container

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/types/filters"
)

func TestCreate(t *testing.T) {
	f := newFake()
	f.createResp = container.CreateResponse{ID: "c1"}
	ts := newServer(t, f)

	r := do(t, ts, "POST", "/containers/create?name=web-1", `{"Image":"busybox","Cmd":["true"]}`)
	wantStatus(t, r, http.StatusCreated)
	if strings.TrimSpace(r.body) != `{"Id":"c1","Warnings":[]}` {
		t.Fatalf("body %s", r.body)
	}
	cfg := f.args(t, "ContainerCreate")[0].(CreateConfig)
	if cfg.Name != "web-1" || cfg.Config.Image != "busybox" || cfg.HostConfig == nil || cfg.NetworkingConfig == nil ||
		cfg.NetworkingConfig.EndpointsConfig == nil || cfg.Platform != nil {
		t.Fatalf("config %+v", cfg)
	}
	if cfg.HostConfig.NetworkMode != "bridge" {
		t.Fatalf("network mode %q, want bridge", cfg.HostConfig.NetworkMode)
	}

	for _, bad := range []string{"a", "-x", "x y", "a/b", "_ab"} {
		r := do(t, ts, "POST", "/containers/create?name="+strings.ReplaceAll(bad, " ", "%20"), `{"Image":"busybox"}`)
		wantError(t, r, 400, "Invalid container name ("+bad+"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
	}
	for _, good := range []string{"ab", "/ab", "a.b_c-d", "9z"} {
		wantStatus(t, do(t, ts, "POST", "/containers/create?name="+good, `{"Image":"busybox"}`), 201)
	}

	wantError(t, do(t, ts, "POST", "/containers/create", ""), 400, "invalid JSON: got EOF while reading request body")
	wantError(t, do(t, ts, "POST", "/containers/create", "{}"), 400, "config cannot be empty")
	wantError(t, do(t, ts, "POST", "/containers/create", "{bad"), 400, "invalid JSON")

	// platform, API 1.41 on.
	wantStatus(t, do(t, ts, "POST", "/containers/create?platform=linux/arm64", `{"Image":"x"}`), 201)
	cfg = f.args(t, "ContainerCreate")[0].(CreateConfig)
	if cfg.Platform == nil || cfg.Platform.OS != "linux" || cfg.Platform.Architecture != "arm64" {
		t.Fatalf("platform %+v", cfg.Platform)
	}
	wantStatus(t, do(t, ts, "POST", "/v1.40/containers/create?platform=linux/arm64", `{"Image":"x"}`), 201)
	if cfg = f.args(t, "ContainerCreate")[0].(CreateConfig); cfg.Platform != nil {
		t.Fatalf("platform on 1.40: %+v", cfg.Platform)
	}
	wantError(t, do(t, ts, "POST", "/containers/create?platform=linux//x", `{"Image":"x"}`), 400, "invalid platform")

	// Backend errors keep their class; warnings are appended.
	f.err = cerrdefs.ErrConflict.WithMessage("name in use")
	wantError(t, do(t, ts, "POST", "/containers/create?name=ab", `{"Image":"x"}`), 409, "name in use")
	f.err = nil
	f.createResp = container.CreateResponse{ID: "c2", Warnings: []string{"w1"}}
	r = do(t, ts, "POST", "/containers/create", `{"Image":"x","MacAddress":"02:42:ac:11:00:02"}`)
	wantStatus(t, r, 201)
	var cresp container.CreateResponse
	decode(t, r.body, &cresp)
	if len(cresp.Warnings) != 2 || cresp.Warnings[0] != "w1" || cresp.Warnings[1] != macDeprecated {
		t.Fatalf("warnings %q", cresp.Warnings)
	}
	cfg = f.args(t, "ContainerCreate")[0].(CreateConfig)
	if ep := cfg.NetworkingConfig.EndpointsConfig["bridge"]; ep == nil || ep.MacAddress.String() != "02:42:ac:11:00:02" {
		t.Fatalf("MAC not migrated: %+v", cfg.NetworkingConfig.EndpointsConfig)
	}
}

func TestCreateVersionAdjustments(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	create := func(version, body string) (response, CreateConfig) {
		t.Helper()
		r := do(t, ts, "POST", "/v"+version+"/containers/create", body)
		if r.code != 201 {
			return r, CreateConfig{}
		}
		return r, f.args(t, "ContainerCreate")[0].(CreateConfig)
	}

	_, c := create("1.24", `{"Image":"x","HostConfig":{"AutoRemove":true}}`)
	if c.HostConfig.AutoRemove || c.HostConfig.IpcMode != container.IPCModeShareable {
		t.Fatalf("1.24: %+v", c.HostConfig)
	}
	_, c = create("1.25", `{"Image":"x","HostConfig":{"AutoRemove":true}}`)
	if !c.HostConfig.AutoRemove {
		t.Fatal("1.25 dropped AutoRemove")
	}
	_, c = create("1.44", `{"Image":"x","HostConfig":{"ConsoleSize":[10,20],"Annotations":{"a":"b"}}}`)
	if c.HostConfig.ConsoleSize != [2]uint{10, 20} || c.HostConfig.Annotations["a"] != "b" || c.HostConfig.IpcMode != "" {
		t.Fatalf("1.44: %+v", c.HostConfig)
	}
	_, c = create("1.41", `{"Image":"x","HostConfig":{"ConsoleSize":[10,20],"Annotations":{"a":"b"}}}`)
	if c.HostConfig.ConsoleSize != [2]uint{} || c.HostConfig.Annotations != nil {
		t.Fatalf("1.41: %+v", c.HostConfig)
	}

	// Mount options on the wrong mount type: dropped before 1.42, refused after.
	body := `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true,"VolumeOptions":{"NoCopy":true}}]}}`
	_, c = create("1.41", body)
	if m := c.HostConfig.Mounts[0]; m.VolumeOptions != nil || m.BindOptions == nil || !m.BindOptions.ReadOnlyNonRecursive {
		t.Fatalf("1.41 mount %+v", m)
	}
	r, _ := create("1.42", body)
	wantError(t, r, 400, `VolumeOptions must not be specified on mount type "bind"`)
	_, c = create("1.44", `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true}]}}`)
	if m := c.HostConfig.Mounts[0]; m.BindOptions != nil {
		t.Fatalf("1.44 read-only bind changed: %+v", m.BindOptions)
	}
	r, _ = create("1.43", `{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","BindOptions":{"ReadOnlyForceRecursive":true}}]}}`)
	wantError(t, r, 400, "ReadOnlyForceRecursive needs API v1.44")
	r, _ = create("1.44", `{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/b","VolumeOptions":{"Subpath":"x"}}]}}`)
	wantError(t, r, 400, "Subpath needs API v1.45")

	// Several networks at create: 1.44 on.
	two := `{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"n1":{},"n2":{}}},"HostConfig":{"NetworkMode":"n1"}}`
	r, _ = create("1.43", two)
	wantError(t, r, 400, "Container cannot be created with multiple network endpoints: n1, n2")
	if r, _ = create("1.44", two); r.code != 201 {
		t.Fatalf("1.44 two networks: %d %s", r.code, r.body)
	}

	// The container-wide MAC address of API < 1.44.
	_, c = create("1.43", `{"Image":"x","MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"mynet"}}`)
	if ep := c.NetworkingConfig.EndpointsConfig["mynet"]; ep == nil || ep.MacAddress.String() != "02:42:ac:11:00:09" {
		t.Fatalf("1.43 MAC: %+v", c.NetworkingConfig.EndpointsConfig)
	}
	r, _ = create("1.43", `{"Image":"x","MacAddress":"02:42:ac:11:00:09","HostConfig":{"NetworkMode":"host"}}`)
	wantError(t, r, 400, "conflicting options: mac-address and the network mode")
	_, c = create("1.43", `{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:ac:11:00:09"}}}}`)
	if ep := c.NetworkingConfig.EndpointsConfig["bridge"]; ep == nil || len(ep.MacAddress) != 0 {
		t.Fatalf("1.43 endpoint MAC kept: %+v", ep)
	}
	r, _ = create("1.44", `{"Image":"x","MacAddress":"02:42:ac:11:00:09","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:ac:11:00:08"}}}}`)
	wantError(t, r, 400, "container-wide MAC address must match")

	// "default" network endpoint follows NetworkMode's rename.
	_, c = create("1.44", `{"Image":"x","HostConfig":{"NetworkMode":"default","PidsLimit":-1},"NetworkingConfig":{"EndpointsConfig":{"default":{"Aliases":["a"]}}}}`)
	if ep := c.NetworkingConfig.EndpointsConfig["bridge"]; ep == nil || !reflect.DeepEqual(ep.Aliases, []string{"a"}) || c.HostConfig.PidsLimit != nil {
		t.Fatalf("default network: %+v %+v", c.NetworkingConfig.EndpointsConfig, c.HostConfig.PidsLimit)
	}
}

func TestList(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "GET", "/containers/json", "")
	wantStatus(t, r, 200)
	if strings.TrimSpace(r.body) != "[]" {
		t.Fatalf("empty list is %q", r.body)
	}
	wantStatus(t, do(t, ts, "GET", `/containers/json?all=1&size=true&limit=3&filters={"status":{"exited":true}}`, ""), 200)
	o := f.args(t, "Containers")[0].(ListOptions)
	if !o.All || !o.Size || o.Limit != 3 || !o.Filters.ExactMatch("status", "exited") || o.Filters.ExactMatch("status", "running") {
		t.Fatalf("options %+v", o)
	}
	wantStatus(t, do(t, ts, "GET", "/containers/json?all=0", ""), 200)
	if o := f.args(t, "Containers")[0].(ListOptions); o.All || o.Limit != 0 {
		t.Fatalf("options %+v", o)
	}
	wantError(t, do(t, ts, "GET", "/containers/json?limit=x", ""), 400, "limit")
	wantError(t, do(t, ts, "GET", "/containers/json?filters=nope", ""), 400, "invalid filter")
	f.list = []container.Summary{{ID: "c1", Names: []string{"/a"}}}
	r = do(t, ts, "GET", "/v1.24/containers/json", "")
	var got []container.Summary
	decode(t, r.body, &got)
	if len(got) != 1 || got[0].ID != "c1" {
		t.Fatalf("list %s", r.body)
	}
}

func TestInspectTopChanges(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "GET", "/containers/web/json?size=1", "")
	wantStatus(t, r, 200)
	if a := f.args(t, "ContainerInspect"); a[0] != "web" || a[1] != true {
		t.Fatalf("inspect args %v", a)
	}
	wantStatus(t, do(t, ts, "GET", "/v1.44/containers/web/json", ""), 200)
	if a := f.args(t, "ContainerInspect"); a[1] != false {
		t.Fatalf("inspect args %v", a)
	}

	r = do(t, ts, "GET", "/containers/web/top?ps_args=aux", "")
	wantStatus(t, r, 200)
	if a := f.args(t, "ContainerTop"); a[0] != "web" || a[1] != "aux" {
		t.Fatalf("top args %v", a)
	}
	if !strings.Contains(r.body, `"Processes":[["1"]]`) {
		t.Fatalf("top %s", r.body)
	}

	r = do(t, ts, "GET", "/containers/web/changes", "")
	wantStatus(t, r, 200)
	if strings.TrimSpace(r.body) != "[]" {
		t.Fatalf("changes %q", r.body)
	}
	f.err = errNoSuch
	wantError(t, do(t, ts, "GET", "/containers/nope/json", ""), 404, "No such container")
	wantError(t, do(t, ts, "GET", "/containers/nope/top", ""), 404, "No such container")
	wantError(t, do(t, ts, "GET", "/containers/nope/changes", ""), 404, "No such container")
}

func TestLogsParameters(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantError(t, do(t, ts, "GET", "/containers/web/logs", ""), 400, "Bad parameters: you must choose at least one stream")
	if f.called("ContainerLogs") {
		t.Fatal("backend called without a stream")
	}
	f.logs = func(_ context.Context, o LogsOptions) error {
		_, err := o.Output(true).Write([]byte("x"))
		return err
	}
	r := do(t, ts, "GET", "/containers/web/logs?stdout=1&follow=1&timestamps=1&details=1&since=10&until=20&tail=5", "")
	wantStatus(t, r, 200)
	o := f.args(t, "ContainerLogs")[1].(LogsOptions)
	if !o.Stdout || o.Stderr || !o.Follow || !o.Timestamps || !o.Details || o.Since != "10" || o.Until != "20" || o.Tail != "5" {
		t.Fatalf("options %+v", o)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.docker.multiplexed-stream" || r.body != "x" {
		t.Fatalf("multiplexed: %q %q", ct, r.body)
	}
	// Before 1.42 every stream was called raw.
	r = do(t, ts, "GET", "/v1.41/containers/web/logs?stderr=1", "")
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
		t.Fatalf("1.41: %q", ct)
	}
	f.logs = func(_ context.Context, o LogsOptions) error {
		_, err := o.Output(false).Write([]byte("tty"))
		return err
	}
	r = do(t, ts, "GET", "/containers/web/logs?stderr=1", "")
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" || r.body != "tty" {
		t.Fatalf("tty: %q %q", ct, r.body)
	}

	// An error before Output is a status; after, a system-error frame.
	f.logs = func(context.Context, LogsOptions) error { return errNoSuch }
	wantError(t, do(t, ts, "GET", "/containers/nope/logs?stdout=1", ""), 404, "No such container")
	f.logs = func(_ context.Context, o LogsOptions) error {
		o.Output(true)
		return errors.New("disk on fire")
	}
	r = do(t, ts, "GET", "/containers/web/logs?stdout=1", "")
	wantStatus(t, r, 200)
	want := string(frame(streamSystemErr, []byte("Error grabbing logs: disk on fire\n")))
	if r.body != want {
		t.Fatalf("in-band error %q, want %q", r.body, want)
	}
	// A backend with nothing to say still answers 200.
	f.logs = func(context.Context, LogsOptions) error { return nil }
	wantStatus(t, do(t, ts, "GET", "/containers/web/logs?stdout=1", ""), 200)
}

// TestLogsFlushes checks that the headers go out as soon as the backend
// calls Output and each write reaches the client at once, while the
// backend is still running.
func TestLogsFlushes(t *testing.T) {
	f := newFake()
	step := make(chan struct{})
	f.logs = func(ctx context.Context, o LogsOptions) error {
		w := o.Output(true)
		<-step
		w.Write([]byte("one\n"))
		<-step
		w.Write([]byte("two\n"))
		<-ctx.Done() // follow until the client goes
		return nil
	}
	ts := newServer(t, f)
	resp, err := http.Get(ts.URL + "/containers/web/logs?stdout=1&follow=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"one\n", "two\n"} {
		step <- struct{}{}
		line, err := readLineTimeout(br)
		if err != nil || line != want {
			t.Fatalf("got %q, %v; want %q", line, err, want)
		}
	}
}

func readLineTimeout(br *bufio.Reader) (string, error) {
	type res struct {
		s   string
		err error
	}
	c := make(chan res, 1)
	go func() {
		s, err := br.ReadString('\n')
		c <- res{s, err}
	}()
	select {
	case r := <-c:
		return r.s, r.err
	case <-time.After(5 * time.Second):
		return "", errors.New("timed out: not flushed")
	}
}

func TestExport(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "GET", "/containers/web/export", "")
	wantStatus(t, r, 200)
	if r.header.Get("Content-Type") != "application/x-tar" || r.body != "tar-bytes" {
		t.Fatalf("%q %q", r.header.Get("Content-Type"), r.body)
	}
	f.err = errNoSuch
	wantError(t, do(t, ts, "GET", "/containers/nope/export", ""), 404, "No such container")
	f.err = nil
	f.export = func(io.Writer) error { return nil }
	r = do(t, ts, "GET", "/containers/web/export", "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("empty export: %d %q", r.code, r.header.Get("Content-Type"))
	}
}

func TestStats(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "GET", "/containers/web/stats", "")
	wantStatus(t, r, 200)
	if o := f.args(t, "ContainerStats")[1].(StatsOptions); !o.Stream || o.OneShot {
		t.Fatalf("defaults %+v", o)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	var s container.StatsResponse
	decode(t, r.body, &s)
	if s.ID != "web" {
		t.Fatalf("stats %s", r.body)
	}
	do(t, ts, "GET", "/containers/web/stats?stream=0&one-shot=1", "")
	if o := f.args(t, "ContainerStats")[1].(StatsOptions); o.Stream || !o.OneShot {
		t.Fatalf("stream=0&one-shot=1: %+v", o)
	}
	do(t, ts, "GET", "/v1.40/containers/web/stats?stream=false&one-shot=1", "")
	if o := f.args(t, "ContainerStats")[1].(StatsOptions); o.Stream || o.OneShot {
		t.Fatalf("1.40 one-shot: %+v", o)
	}

	// One object per line, each flushed.
	step := make(chan struct{})
	f.stats = func(ctx context.Context, o StatsOptions) error {
		for i := 0; i < 2; i++ {
			<-step
			if err := o.Output(&container.StatsResponse{Name: "/web", NumProcs: uint32(i)}); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return nil
	}
	// The response begins with the first sample (the backend first checks
	// the container): let it come.
	go func() { step <- struct{}{} }()
	resp, err := http.Get(ts.URL + "/containers/web/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := 0; i < 2; i++ {
		if i > 0 {
			step <- struct{}{}
		}
		line, err := readLineTimeout(br)
		if err != nil {
			t.Fatal(err)
		}
		var s container.StatsResponse
		decode(t, line, &s)
		if s.NumProcs != uint32(i) {
			t.Fatalf("line %d: %s", i, line)
		}
	}

	f.stats = nil
	f.err = errNoSuch
	wantError(t, do(t, ts, "GET", "/containers/nope/stats", ""), 404, "No such container")
}

func TestResize(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantStatus(t, do(t, ts, "POST", "/containers/web/resize?h=40&w=120", ""), 200)
	if a := f.args(t, "ContainerResize"); a[0] != "web" || a[1] != uint16(40) || a[2] != uint16(120) {
		t.Fatalf("args %v", a)
	}
	wantStatus(t, do(t, ts, "POST", "/exec/e1/resize?h=1&w=2", ""), 200)
	if a := f.args(t, "ExecResize"); a[0] != "e1" || a[1] != uint16(1) || a[2] != uint16(2) {
		t.Fatalf("args %v", a)
	}
	for _, q := range []string{"", "h=1", "w=1", "h=x&w=1", "h=1&w=-1", "h=1&w=70000"} {
		wantError(t, do(t, ts, "POST", "/containers/web/resize?"+q, ""), 400, "invalid value for")
		wantError(t, do(t, ts, "POST", "/exec/e1/resize?"+q, ""), 400, "invalid value for")
	}
	f.err = errNoSuch
	wantError(t, do(t, ts, "POST", "/containers/nope/resize?h=1&w=1", ""), 404, "No such container")
}

func TestStartStop(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantStatus(t, do(t, ts, "POST", "/containers/web/start", ""), 204)
	if a := f.args(t, "ContainerStart"); a[0] != "web" {
		t.Fatalf("args %v", a)
	}
	wantStatus(t, do(t, ts, "POST", "/containers/web/start", "{}"), 204)
	wantError(t, do(t, ts, "POST", "/containers/web/start", `{"Binds":["/a:/b"]}`), 400, "starting container with non-empty request body")
	wantError(t, do(t, ts, "POST", "/containers/web/start?checkpoint=c1", ""), 501, "checkpoint")

	f.err = cerrdefs.ErrNotModified
	r := do(t, ts, "POST", "/containers/web/start", "")
	if r.code != 304 || r.body != "" {
		t.Fatalf("already started: %d %q", r.code, r.body)
	}
	f.err = cerrdefs.ErrNotModified.WithMessage("container already stopped")
	r = do(t, ts, "POST", "/containers/web/stop", "")
	if r.code != 304 || r.body != "" {
		t.Fatalf("already stopped: %d %q", r.code, r.body)
	}
	f.err = errNoSuch
	wantError(t, do(t, ts, "POST", "/containers/nope/start", ""), 404, "No such container")
	wantError(t, do(t, ts, "POST", "/containers/nope/stop", ""), 404, "No such container")
	f.err = nil

	wantStatus(t, do(t, ts, "POST", "/containers/web/stop?t=5&signal=SIGINT", ""), 204)
	if o := f.args(t, "ContainerStop")[1].(StopOptions); o.Timeout == nil || *o.Timeout != 5 || o.Signal != "SIGINT" {
		t.Fatalf("stop %+v", o)
	}
	wantStatus(t, do(t, ts, "POST", "/v1.41/containers/web/stop?signal=SIGINT", ""), 204)
	if o := f.args(t, "ContainerStop")[1].(StopOptions); o.Timeout != nil || o.Signal != "" {
		t.Fatalf("1.41 stop %+v", o)
	}
	wantStatus(t, do(t, ts, "POST", "/containers/web/stop?t=-1", ""), 204)
	if o := f.args(t, "ContainerStop")[1].(StopOptions); o.Timeout == nil || *o.Timeout != -1 {
		t.Fatalf("stop t=-1 %+v", o)
	}
	wantError(t, do(t, ts, "POST", "/containers/web/stop?t=soon", ""), 400, "invalid value for t")

	wantStatus(t, do(t, ts, "POST", "/containers/web/restart?t=0&signal=9", ""), 204)
	if o := f.args(t, "ContainerRestart")[1].(StopOptions); o.Timeout == nil || *o.Timeout != 0 || o.Signal != "9" {
		t.Fatalf("restart %+v", o)
	}
	wantError(t, do(t, ts, "POST", "/containers/web/restart?t=x", ""), 400, "invalid value for t")
	f.err = cerrdefs.ErrNotModified
	wantStatus(t, do(t, ts, "POST", "/containers/web/restart", ""), 304)
}

func TestKillPauseUnpauseRemoveRename(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantStatus(t, do(t, ts, "POST", "/containers/web/kill?signal=SIGHUP", ""), 204)
	if a := f.args(t, "ContainerKill"); a[0] != "web" || a[1] != "SIGHUP" {
		t.Fatalf("kill %v", a)
	}
	wantStatus(t, do(t, ts, "POST", "/containers/web/kill", ""), 204)
	if a := f.args(t, "ContainerKill"); a[1] != "" {
		t.Fatalf("kill %v", a)
	}
	wantStatus(t, do(t, ts, "POST", "/containers/web/pause", ""), 204)
	f.args(t, "ContainerPause")
	wantStatus(t, do(t, ts, "POST", "/containers/web/unpause", ""), 204)
	f.args(t, "ContainerUnpause")

	wantStatus(t, do(t, ts, "DELETE", "/containers/web?v=1&force=true&link=1", ""), 204)
	if o := f.args(t, "ContainerRemove")[1].(RemoveOptions); !o.RemoveVolumes || !o.Force || !o.RemoveLink {
		t.Fatalf("remove %+v", o)
	}
	wantStatus(t, do(t, ts, "DELETE", "/v1.30/containers/web", ""), 204)
	if o := f.args(t, "ContainerRemove")[1].(RemoveOptions); o != (RemoveOptions{}) {
		t.Fatalf("remove %+v", o)
	}

	wantStatus(t, do(t, ts, "POST", "/containers/web/rename?name=web2", ""), 204)
	if a := f.args(t, "ContainerRename"); a[0] != "web" || a[1] != "web2" {
		t.Fatalf("rename %v", a)
	}
	wantError(t, do(t, ts, "POST", "/containers/web/rename", ""), 400, "Neither old nor new names may be empty")
	wantError(t, do(t, ts, "POST", "/containers/web/rename?name=-x", ""), 400, "Invalid container name (-x)")

	f.err = cerrdefs.ErrConflict.WithMessage("Container web is not running")
	r := do(t, ts, "POST", "/containers/web/kill", "")
	wantError(t, r, 409, "cannot kill container: web: Container web is not running")
	wantError(t, do(t, ts, "POST", "/containers/web/pause", ""), 409, "not running")
	wantError(t, do(t, ts, "POST", "/containers/web/unpause", ""), 409, "not running")
	wantError(t, do(t, ts, "DELETE", "/containers/web", ""), 409, "not running")
	wantError(t, do(t, ts, "POST", "/containers/web/rename?name=web3", ""), 409, "not running")
}

func TestWait(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	wantError(t, do(t, ts, "POST", "/containers/web/wait?condition=bogus", ""), 400, `invalid condition: "bogus"`)
	for q, want := range map[string]container.WaitCondition{
		"":                       container.WaitConditionNotRunning,
		"?condition=not-running": container.WaitConditionNotRunning,
		"?condition=next-exit":   container.WaitConditionNextExit,
		"?condition=removed":     container.WaitConditionRemoved,
	} {
		f.waitCh = make(chan container.WaitResponse, 1)
		f.waitCh <- container.WaitResponse{StatusCode: 3}
		r := do(t, ts, "POST", "/containers/web/wait"+q, "")
		wantStatus(t, r, 200)
		if a := f.args(t, "ContainerWait"); a[1] != want {
			t.Fatalf("%q: condition %v", q, a[1])
		}
		if strings.TrimSpace(r.body) != `{"StatusCode":3}` {
			t.Fatalf("body %q", r.body)
		}
	}
	f.waitCh = make(chan container.WaitResponse, 1)
	f.waitCh <- container.WaitResponse{StatusCode: 137, Error: &container.WaitExitError{Message: "oom"}}
	r := do(t, ts, "POST", "/containers/web/wait", "")
	if strings.TrimSpace(r.body) != `{"Error":{"Message":"oom"},"StatusCode":137}` {
		t.Fatalf("body %q", r.body)
	}

	// The header goes out before the result.
	f.waitCh = make(chan container.WaitResponse)
	resp, err := http.Post(ts.URL+"/containers/web/wait?condition=next-exit", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f.waitCh <- container.WaitResponse{StatusCode: 1}
	b, _ := io.ReadAll(resp.Body)
	if strings.TrimSpace(string(b)) != `{"StatusCode":1}` {
		t.Fatalf("late body %q", b)
	}

	// API < 1.30 ignores the condition; API < 1.34 sends nothing for a
	// failed removal.
	f.waitCh = make(chan container.WaitResponse, 1)
	f.waitCh <- container.WaitResponse{}
	wantStatus(t, do(t, ts, "POST", "/v1.29/containers/web/wait?condition=bogus", ""), 200)
	f.waitCh = make(chan container.WaitResponse, 1)
	f.waitCh <- container.WaitResponse{Error: &container.WaitExitError{Message: "removal failed"}}
	r = do(t, ts, "POST", "/v1.33/containers/web/wait?condition=removed", "")
	if r.code != 200 || r.body != "" {
		t.Fatalf("1.33 failed removal: %d %q", r.code, r.body)
	}

	f.err = errNoSuch
	wantError(t, do(t, ts, "POST", "/containers/nope/wait", ""), 404, "No such container")
}

func TestUpdate(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "POST", "/containers/web/update", `{"Memory":1048576,"PidsLimit":-1,"RestartPolicy":{"Name":"always"}}`)
	wantStatus(t, r, 200)
	if strings.TrimSpace(r.body) != `{"Warnings":[]}` {
		t.Fatalf("body %q", r.body)
	}
	u := f.args(t, "ContainerUpdate")[1].(*container.UpdateConfig)
	if u.Memory != 1048576 || u.PidsLimit == nil || *u.PidsLimit != 0 || u.RestartPolicy.Name != "always" {
		t.Fatalf("update %+v", u)
	}
	do(t, ts, "POST", "/v1.39/containers/web/update", `{"PidsLimit":10}`)
	if u := f.args(t, "ContainerUpdate")[1].(*container.UpdateConfig); u.PidsLimit != nil {
		t.Fatalf("1.39 PidsLimit %v", *u.PidsLimit)
	}
	wantError(t, do(t, ts, "POST", "/containers/web/update", `{"Memory":"lots"}`), 400, "invalid JSON")
	f.updateResp = &container.UpdateResponse{Warnings: []string{"careful"}}
	r = do(t, ts, "POST", "/containers/web/update", `{}`)
	if strings.TrimSpace(r.body) != `{"Warnings":["careful"]}` {
		t.Fatalf("body %q", r.body)
	}
}

func TestPrune(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "POST", `/containers/prune?filters={"until":{"24h":true}}`, "")
	wantStatus(t, r, 200)
	if a := f.args(t, "ContainersPrune")[0].(filters.Args); !a.ExactMatch("until", "24h") {
		t.Fatalf("filters %v", a)
	}
	if strings.TrimSpace(r.body) != `{"ContainersDeleted":[],"SpaceReclaimed":0}` {
		t.Fatalf("body %q", r.body)
	}
	wantError(t, do(t, ts, "POST", `/containers/prune?filters=x`, ""), 400, "invalid filter")
}

func TestCommit(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "POST", "/commit?container=web&repo=example/img&tag=v1&comment=c&author=me&changes=ENV+A%3Db&changes=CMD+%5B%22sh%22%5D",
		`{"Cmd":["sh"],"Labels":{"l":"v"}}`)
	wantStatus(t, r, 201)
	if strings.TrimSpace(r.body) != `{"Id":"sha256:1234"}` {
		t.Fatalf("body %q", r.body)
	}
	o := f.args(t, "ContainerCommit")[0].(CommitOptions)
	if o.Container != "web" || o.Repo != "example/img" || o.Tag != "v1" || o.Comment != "c" || o.Author != "me" || !o.Pause ||
		!reflect.DeepEqual(o.Changes, []string{"ENV A=b", `CMD ["sh"]`}) || o.Config == nil || o.Config.Labels["l"] != "v" {
		t.Fatalf("commit %+v", o)
	}
	wantStatus(t, do(t, ts, "POST", "/commit?container=web&pause=0", ""), 201)
	if o := f.args(t, "ContainerCommit")[0].(CommitOptions); o.Pause || o.Config != nil || o.Repo != "" {
		t.Fatalf("commit %+v", o)
	}
	wantError(t, do(t, ts, "POST", "/commit", ""), 400, "value is empty")
	wantError(t, do(t, ts, "POST", "/commit?container=web&repo=Bad", ""), 400, "invalid reference format")
	wantError(t, do(t, ts, "POST", "/commit?container=web&repo=img&tag=bad:tag", ""), 400, "invalid tag format")
	wantError(t, do(t, ts, "POST", "/commit?container=web&repo=img@sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806", ""), 400, "digest")
	f.err = errNoSuch
	wantError(t, do(t, ts, "POST", "/commit?container=nope", ""), 404, "No such container")
}

func TestArchive(t *testing.T) {
	f := newFake()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	f.stat = &container.PathStat{Name: "etc", Size: 4096, Mode: 0o755 | 1<<31, Mtime: mtime, LinkTarget: ""}
	f.archive = "TARDATA"
	ts := newServer(t, f)

	checkStat := func(h http.Header) {
		t.Helper()
		raw, err := base64.StdEncoding.DecodeString(h.Get("X-Docker-Container-Path-Stat"))
		if err != nil {
			t.Fatalf("header %q: %v", h.Get("X-Docker-Container-Path-Stat"), err)
		}
		var st container.PathStat
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		if st.Name != "etc" || st.Size != 4096 || st.Mode != f.stat.Mode || !st.Mtime.Equal(mtime) {
			t.Fatalf("stat %+v", st)
		}
		if !strings.Contains(string(raw), `"linkTarget":""`) {
			t.Fatalf("stat JSON %s", raw)
		}
	}

	r := do(t, ts, "HEAD", "/containers/web/archive?path=/etc", "")
	wantStatus(t, r, 200)
	checkStat(r.header)
	if a := f.args(t, "ContainerStatPath"); a[0] != "web" || a[1] != "/etc" {
		t.Fatalf("stat args %v", a)
	}
	wantStatus(t, do(t, ts, "HEAD", "/containers/web/archive", ""), 400)

	r = do(t, ts, "GET", "/containers/web/archive?path=/etc", "", "Accept-Encoding", "identity")
	wantStatus(t, r, 200)
	checkStat(r.header)
	if r.header.Get("Content-Type") != "application/x-tar" || r.body != "TARDATA" || r.header.Get("Content-Encoding") != "" {
		t.Fatalf("archive %q %q", r.header.Get("Content-Type"), r.body)
	}
	r = do(t, ts, "GET", "/containers/web/archive?path=/etc", "", "Accept-Encoding", "gzip")
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("not compressed: %v", r.header)
	}
	zr, err := gzip.NewReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "TARDATA" {
		t.Fatalf("gzip body %q", b)
	}
	wantError(t, do(t, ts, "GET", "/containers/web/archive", ""), 400, "path cannot be empty")

	r = do(t, ts, "PUT", "/containers/web/archive?path=/tmp&noOverwriteDirNonDir=1&copyUIDGID=1", "TARIN")
	wantStatus(t, r, 200)
	a := f.args(t, "ContainerExtractToDir")
	if a[0] != "web" || a[1] != "/tmp" || a[2] != (ExtractOptions{AllowOverwriteDirWithFile: false, CopyUIDGID: true}) || a[3] != "TARIN" {
		t.Fatalf("extract %v", a)
	}
	do(t, ts, "PUT", "/containers/web/archive?path=/tmp", "T")
	if a := f.args(t, "ContainerExtractToDir"); a[2] != (ExtractOptions{AllowOverwriteDirWithFile: true}) {
		t.Fatalf("extract defaults %v", a[2])
	}
	wantError(t, do(t, ts, "PUT", "/containers/web/archive", "T"), 400, "path cannot be empty")

	f.err = errNoSuch
	wantStatus(t, do(t, ts, "HEAD", "/containers/nope/archive?path=/", ""), 404)
	wantError(t, do(t, ts, "GET", "/containers/nope/archive?path=/", ""), 404, "No such container")
	wantError(t, do(t, ts, "PUT", "/containers/nope/archive?path=/", "T"), 404, "No such container")
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "*": true,
		"identity": false, "*;q=0": false, "gzip;q=0, *": false, "br, *;q=0.1": true, "GZIP": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}

func TestExecCreateInspect(t *testing.T) {
	f := newFake()
	ts := newServer(t, f)
	r := do(t, ts, "POST", "/containers/web/exec", `{"Cmd":["sh","-c","id"],"AttachStdout":true,"Tty":true,"ConsoleSize":[24,80],"User":"1000"}`)
	wantStatus(t, r, 201)
	if strings.TrimSpace(r.body) != `{"Id":"exec1"}` {
		t.Fatalf("body %q", r.body)
	}
	a := f.args(t, "ExecCreate")
	req := a[1].(*container.ExecCreateRequest)
	if a[0] != "web" || !reflect.DeepEqual(req.Cmd, []string{"sh", "-c", "id"}) || req.User != "1000" || req.ConsoleSize == nil || *req.ConsoleSize != [2]uint{24, 80} {
		t.Fatalf("exec create %v %+v", a[0], req)
	}
	do(t, ts, "POST", "/v1.41/containers/web/exec", `{"Cmd":["id"],"ConsoleSize":[24,80]}`)
	if req := f.args(t, "ExecCreate")[1].(*container.ExecCreateRequest); req.ConsoleSize != nil {
		t.Fatal("1.41 kept ConsoleSize")
	}
	wantError(t, do(t, ts, "POST", "/containers/web/exec", `{"Cmd":[]}`), 400, "No exec command specified")
	wantError(t, do(t, ts, "POST", "/containers/web/exec", ``), 400, "No exec command specified")

	r = do(t, ts, "GET", "/exec/exec1/json", "")
	wantStatus(t, r, 200)
	var e container.ExecInspectResponse
	decode(t, r.body, &e)
	if e.ID != "exec1" || !e.Running {
		t.Fatalf("inspect %s", r.body)
	}
	f.err = cerrdefs.ErrNotFound.WithMessage("No such exec instance: x")
	wantError(t, do(t, ts, "GET", "/exec/x/json", ""), 404, "No such exec instance")
	f.err = cerrdefs.ErrConflict.WithMessage("Container web is not running")
	wantError(t, do(t, ts, "POST", "/containers/web/exec", `{"Cmd":["id"]}`), 409, "is not running")
}

func TestExecStartDetached(t *testing.T) {
	f := newFake()
	f.exec = func(context.Context, ExecStartOptions) error { return nil }
	ts := newServer(t, f)
	r := do(t, ts, "POST", "/exec/e1/start", `{"Detach":true,"Tty":true,"ConsoleSize":[10,20]}`)
	if r.code != 200 || r.body != "" {
		t.Fatalf("detached: %d %q", r.code, r.body)
	}
	a := f.args(t, "ExecStart")
	o := a[1].(ExecStartOptions)
	if a[0] != "e1" || !o.Detach || o.Streams != nil || o.ConsoleSize == nil || *o.ConsoleSize != [2]uint{10, 20} {
		t.Fatalf("exec start %v %+v", a[0], o)
	}
	do(t, ts, "POST", "/exec/e1/start", `{"Detach":true,"ConsoleSize":[10,20]}`)
	if o := f.args(t, "ExecStart")[1].(ExecStartOptions); o.ConsoleSize != nil {
		t.Fatal("ConsoleSize kept without a TTY")
	}
	do(t, ts, "POST", "/v1.41/exec/e1/start", `{"Detach":true,"Tty":true,"ConsoleSize":[10,20]}`)
	if o := f.args(t, "ExecStart")[1].(ExecStartOptions); o.ConsoleSize != nil {
		t.Fatal("ConsoleSize kept on 1.41")
	}
	f.err = cerrdefs.ErrNotFound.WithMessage("No such exec instance: e2")
	wantError(t, do(t, ts, "POST", "/exec/e2/start", `{"Detach":true}`), 404, "No such exec instance")
	f.err = nil
	wantError(t, do(t, ts, "POST", "/exec/e1/start", `{"Detach":"yes"}`), 400, "invalid JSON")
}

func TestAttachWebSocket(t *testing.T) {
	ts := newServer(t, newFake())
	wantError(t, do(t, ts, "GET", "/containers/web/attach/ws?stream=1", ""), 400, "not a WebSocket handshake")
}

func TestMediaTypeAndFrame(t *testing.T) {
	b := frame(streamStdout, []byte("hi"))
	if !bytes.Equal(b, []byte{1, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}) {
		t.Fatalf("frame %v", b)
	}
}
