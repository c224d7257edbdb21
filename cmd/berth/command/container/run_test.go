package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

type fakePull struct{ io.Reader }

func (fakePull) Close() error { return nil }
func (fakePull) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	return func(func(jsonstream.Message, error) bool) {}
}
func (fakePull) Wait(context.Context) error { return nil }

// fakeRun records the calls `berth run -d` makes.
type fakeRun struct {
	apiClient
	creates int
	pulled  string
	started string
	calls   []string
}

func (f *fakeRun) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	f.creates++
	f.calls = append(f.calls, "create")
	if f.pulled == "" {
		return client.ContainerCreateResult{}, fmt.Errorf("Error response from daemon: No such image: %s: %w", o.Config.Image, cerrdefs.ErrNotFound)
	}
	return client.ContainerCreateResult{ID: strings.Repeat("ab", 32), Warnings: []string{"careful"}}, nil
}

func (f *fakeRun) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	f.pulled = ref
	f.calls = append(f.calls, "pull")
	return fakePull{strings.NewReader(`{"status":"Pulling from library/busybox","id":"latest"}` + "\n" + `{"status":"Status: Downloaded newer image for busybox:latest"}` + "\n")}, nil
}

func (f *fakeRun) ContainerWait(context.Context, string, client.ContainerWaitOptions) client.ContainerWaitResult {
	f.calls = append(f.calls, "wait")
	return client.ContainerWaitResult{}
}

func (f *fakeRun) ContainerStart(_ context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	f.started = id
	f.calls = append(f.calls, "start")
	return client.ContainerStartResult{}, nil
}

func TestRunDetachedPullsMissingImage(t *testing.T) {
	cfg, err := parseArgs(t, []string{"busybox", "true"})
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeRun{}
	var out, errOut bytes.Buffer
	err = runRun(context.Background(), api, streams{in: strings.NewReader(""), out: &out, err: &errOut}, cfg,
		runOptions{createOptions: createOptions{pull: pullMissing}, detach: true}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	if out.String() != id+"\n" {
		t.Errorf("stdout %q, want the full ID", out.String())
	}
	wantErr := "Unable to find image 'busybox:latest' locally\nlatest: Pulling from library/busybox\nStatus: Downloaded newer image for busybox:latest\nWARNING: careful\n"
	if errOut.String() != wantErr {
		t.Errorf("stderr %q, want %q", errOut.String(), wantErr)
	}
	if got := strings.Join(api.calls, ","); got != "create,pull,create,wait,start" {
		t.Errorf("calls %s", got)
	}
	if cfg.Config.AttachStdout || cfg.Config.AttachStderr {
		t.Error("-d still attaches")
	}
}

func TestRunPullNever(t *testing.T) {
	cfg, _ := parseArgs(t, []string{"busybox"})
	api := &fakeRun{}
	err := runRun(context.Background(), api, streams{in: strings.NewReader(""), out: io.Discard, err: io.Discard}, cfg,
		runOptions{createOptions: createOptions{pull: pullNever}, detach: true}, 0)
	if exitCodeOf(err) != 125 || !strings.Contains(err.Error(), "berth: Error response from daemon: No such image: busybox") {
		t.Errorf("got %v (%d)", err, exitCodeOf(err))
	}
	if api.pulled != "" {
		t.Error("pulled with --pull never")
	}
	if err := runRun(context.Background(), api, streams{}, cfg, runOptions{detach: true}, 1); err == nil ||
		err.Error() != "conflicting options: cannot specify both --attach and --detach" {
		t.Errorf("-a with -d: %v", err)
	}
}
