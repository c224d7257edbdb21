package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	gosignal "os/signal"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/moby/term"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

type startOptions struct {
	attach     bool
	openStdin  bool
	detachKeys string
	containers []string
}

// runStart starts containers; with -a or -i (one container only) it
// attaches first and ends with the container's exit status.
func runStart(ctx context.Context, api apiClient, s streams, o startOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := validateDetachKeys(o.detachKeys); err != nil {
		return err
	}
	if !o.attach && !o.openStdin {
		var failedIDs []string
		for _, c := range o.containers {
			if _, err := api.ContainerStart(ctx, c, client.ContainerStartOptions{}); err != nil {
				fmt.Fprintln(s.err, err)
				failedIDs = append(failedIDs, c)
				continue
			}
			fmt.Fprintln(s.out, c)
		}
		if len(failedIDs) > 0 {
			return fmt.Errorf("Error: failed to start containers: %s", strings.Join(failedIDs, ", "))
		}
		return nil
	}
	if len(o.containers) > 1 {
		return errors.New("you cannot start and attach multiple containers at once")
	}
	ins, err := api.ContainerInspect(ctx, o.containers[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	c := ins.Container
	if !c.Config.Tty {
		sigc := make(chan os.Signal, 128)
		gosignal.Notify(sigc)
		go forwardSignals(context.WithoutCancel(ctx), api, c.ID, sigc)
		defer gosignal.Stop(sigc)
	}
	stdin := o.openStdin && c.Config.OpenStdin
	res, err := api.ContainerAttach(ctx, c.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: o.detachKeys,
	})
	if err != nil {
		return err
	}
	defer res.HijackedResponse.Close()
	h := &hijackedStreamer{s: s, out: s.out, errOut: s.err, resp: res.HijackedResponse, tty: c.Config.Tty, detachKeys: o.detachKeys}
	if stdin {
		h.in = s.in
	}
	cErr := make(chan error, 1)
	go func() { cErr <- h.stream(ctx) }()
	statusC := waitExitOrRemoved(ctx, api, c.ID, c.HostConfig != nil && c.HostConfig.AutoRemove)
	if _, err := api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-cErr
		if c.HostConfig != nil && c.HostConfig.AutoRemove {
			<-statusC
		}
		return err
	}
	if c.Config.Tty {
		if _, isTerm := s.outFd(); isTerm {
			monitorTTYSize(ctx, api, s, c.ID, false)
		}
	}
	if err := <-cErr; err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		return err
	}
	if status := <-statusC; status != 0 {
		return command.StatusError{StatusCode: status}
	}
	return nil
}

type attachOptions struct {
	container  string
	noStdin    bool
	sigProxy   bool
	detachKeys string
}

// runAttach attaches to a running container, as `docker attach`.
func runAttach(ctx context.Context, api apiClient, s streams, o attachOptions) error {
	ins, err := api.ContainerInspect(ctx, o.container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	c := ins.Container
	if c.State == nil || !c.State.Running {
		return errors.New("You cannot attach to a stopped container, start it first")
	}
	if c.State.Paused {
		return errors.New("You cannot attach to a paused container, unpause it first")
	}
	if c.State.Restarting {
		return errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	if err := validateDetachKeys(o.detachKeys); err != nil {
		return err
	}
	stdin := !o.noStdin && c.Config.OpenStdin
	if stdin && c.Config.Tty {
		if _, isTerm := s.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	if o.sigProxy && !c.Config.Tty {
		sigc := make(chan os.Signal, 128)
		gosignal.Notify(sigc)
		go forwardSignals(context.WithoutCancel(ctx), api, c.ID, sigc)
		defer gosignal.Stop(sigc)
	}
	res, err := api.ContainerAttach(ctx, c.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: o.detachKeys,
	})
	if err != nil {
		return err
	}
	defer res.HijackedResponse.Close()
	statusC := waitExitOrRemoved(context.WithoutCancel(ctx), api, c.ID, c.HostConfig != nil && c.HostConfig.AutoRemove)
	if c.Config.Tty {
		if _, isTerm := s.outFd(); isTerm {
			monitorTTYSize(ctx, api, s, c.ID, false)
		}
	}
	h := &hijackedStreamer{s: s, out: s.out, errOut: s.err, resp: res.HijackedResponse, tty: c.Config.Tty, detachKeys: o.detachKeys}
	if stdin {
		h.in = s.in
	}
	if err := h.stream(ctx); err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			// docker attach ends with "read escape sequence" and
			// status 1 when the user detaches.
			return err
		}
		return err
	}
	if status := <-statusC; status != 0 {
		return command.StatusError{StatusCode: status}
	}
	return nil
}

type execOptions struct {
	container   string
	cmd         []string
	detach      bool
	interactive bool
	tty         bool
	env         *opts.ListOpt
	envFile     *opts.ListOpt
	user        string
	workdir     string
	privileged  bool
	detachKeys  string
}

// runExec runs a command in a running container and exits with its status.
func runExec(ctx context.Context, api apiClient, s streams, o execOptions) error {
	env, err := opts.ReadEnvFiles(o.envFile.Values(), o.env.Values())
	if err != nil {
		return err
	}
	req := client.ExecCreateOptions{
		User: o.user, Privileged: o.privileged, TTY: o.tty, Cmd: o.cmd, WorkingDir: o.workdir,
		Env: env, DetachKeys: o.detachKeys,
	}
	if !o.detach {
		req.AttachStdout, req.AttachStderr = true, true
		req.AttachStdin = o.interactive
	}
	if err := validateDetachKeys(o.detachKeys); err != nil {
		return err
	}
	if _, err := api.ContainerInspect(ctx, o.container, client.ContainerInspectOptions{}); err != nil {
		return err
	}
	if !o.detach && req.AttachStdin && req.TTY {
		if _, isTerm := s.inFd(); !isTerm {
			return errors.New("the input device is not a TTY")
		}
	}
	if req.TTY {
		h, w := s.ttySize()
		req.ConsoleSize = client.ConsoleSize{Height: h, Width: w}
	}
	created, err := api.ExecCreate(ctx, o.container, req)
	if err != nil {
		return err
	}
	if created.ID == "" {
		return errors.New("exec ID empty")
	}
	if o.detach {
		// As docker, a detached exec that cannot start is a plain error
		// (status 1): there is no process to take a status from.
		_, err := api.ExecStart(ctx, created.ID, client.ExecStartOptions{Detach: true, TTY: req.TTY, ConsoleSize: req.ConsoleSize})
		return err
	}
	res, err := api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: req.TTY, ConsoleSize: req.ConsoleSize})
	if err != nil {
		return err
	}
	defer res.Close()
	h := &hijackedStreamer{s: s, out: s.out, resp: res.HijackedResponse, tty: req.TTY, detachKeys: o.detachKeys}
	h.errOut = s.err
	if req.TTY {
		h.errOut = s.out
	}
	if req.AttachStdin {
		h.in = s.in
	}
	errCh := make(chan error, 1)
	go func() { errCh <- h.stream(ctx) }()
	if req.TTY {
		if _, isTerm := s.inFd(); isTerm {
			monitorTTYSize(ctx, api, s, created.ID, true)
		}
	}
	if err := <-errCh; err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		return err
	}
	ins, err := api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return command.StatusError{StatusCode: -1}
		}
		return err
	}
	if ins.ExitCode != 0 {
		return command.StatusError{StatusCode: ins.ExitCode}
	}
	return nil
}

type logsOptions struct {
	container  string
	follow     bool
	since      string
	until      string
	timestamps bool
	details    bool
	tail       string
}

// runLogs copies a container's logs: raw for a TTY container, otherwise
// demultiplexed onto stdout and stderr.
func runLogs(ctx context.Context, api apiClient, s streams, o logsOptions) error {
	ins, err := api.ContainerInspect(ctx, o.container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	rc, err := api.ContainerLogs(ctx, ins.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Since: o.since, Until: o.until,
		Timestamps: o.timestamps, Follow: o.follow, Tail: o.tail, Details: o.details,
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	if ins.Container.Config != nil && ins.Container.Config.Tty {
		_, err = io.Copy(s.out, rc)
	} else {
		_, err = stdcopy.StdCopy(s.out, s.err, rc)
	}
	return err
}
