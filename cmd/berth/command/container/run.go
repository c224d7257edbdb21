package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	gosignal "os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/sys/signal"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// apiClient is the part of the API client the container commands use.
type apiClient interface {
	client.ContainerAPIClient
	client.ExecAPIClient
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
}

// streams are the standard streams, with what the attach code needs to
// know about terminals.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func (s streams) inFd() (uintptr, bool)  { return term.GetFdInfo(s.in) }
func (s streams) outFd() (uintptr, bool) { return term.GetFdInfo(s.out) }

// ttySize is the size of the terminal on stdout, 0,0 if it is none.
func (s streams) ttySize() (height, width uint) {
	fd, ok := s.outFd()
	if !ok {
		return 0, 0
	}
	ws, err := term.GetWinsize(fd)
	if err != nil || ws == nil {
		return 0, 0
	}
	return uint(ws.Height), uint(ws.Width)
}

const (
	pullMissing = "missing"
	pullAlways  = "always"
	pullNever   = "never"
)

type createOptions struct {
	name     string
	platform string
	pull     string
	quiet    bool
}

// withHelp words an error as docker run/create do.
func withHelp(err error, cmd string) error {
	return fmt.Errorf("berth: %w\n\nRun 'berth %s --help' for more information", err, cmd)
}

// toStatusError picks docker run's exit status for a failure to create or
// start: 127 when the command was not found, 126 when it cannot be
// executed, else 125.
func toStatusError(err error, cmd string) command.StatusError {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system cannot find the file specified"):
		code = 127
	case strings.Contains(msg, syscall.EACCES.Error()), strings.Contains(msg, syscall.EISDIR.Error()):
		code = 126
	}
	return command.StatusError{Status: withHelp(err, cmd).Error(), StatusCode: code}
}

func validatePull(p string) error {
	switch p {
	case pullMissing, pullAlways, pullNever, "":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of %q, %q or %q", p, pullAlways, pullMissing, pullNever)
}

// parsePlatform accepts os[/arch[/variant]].
func parsePlatform(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) > 3 || parts[0] == "" {
		return nil, fmt.Errorf("error parsing specified platform: %q: unknown operating system or architecture", s)
	}
	p := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p, nil
}

// pullImage pulls ref showing the progress on out (nothing if quiet).
func pullImage(ctx context.Context, api apiClient, s streams, ref string, platform *ocispec.Platform, quiet bool) error {
	opts := client.ImagePullOptions{}
	if platform != nil {
		opts.Platforms = []ocispec.Platform{*platform}
	}
	res, err := api.ImagePull(ctx, ref, opts)
	if err != nil {
		return err
	}
	defer res.Close()
	out := s.err
	if quiet {
		out = io.Discard
	}
	fd, isTerm := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(res, out, fd, isTerm, nil)
}

// createContainer creates the container, pulling its image first with
// --pull=always, or when the daemon does not have it with --pull=missing,
// as docker does. Warnings go to stderr.
func createContainer(ctx context.Context, api apiClient, s streams, cfg *createConfig, o createOptions) (string, error) {
	platform, err := parsePlatform(o.platform)
	if err != nil {
		return "", err
	}
	var named reference.Named
	if ref, err := reference.ParseAnyReference(cfg.Config.Image); err != nil {
		return "", err
	} else if n, ok := ref.(reference.Named); ok {
		named = reference.TagNameOnly(n)
	}
	cidFile, err := newCIDFile(cfg.HostConfig.ContainerIDFile)
	if err != nil {
		return "", err
	}
	if o.pull == pullAlways {
		if err := pullImage(ctx, api, s, cfg.Config.Image, platform, o.quiet); err != nil {
			return "", err
		}
	}
	h, w := s.ttySize()
	cfg.HostConfig.ConsoleSize = [2]uint{h, w}
	create := func() (client.ContainerCreateResult, error) {
		return api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:             o.name,
			Platform:         platform,
			Config:           cfg.Config,
			HostConfig:       cfg.HostConfig,
			NetworkingConfig: cfg.NetworkingConfig,
		})
	}
	res, err := create()
	if err != nil {
		if !cerrdefs.IsNotFound(err) || named == nil || o.pull != pullMissing || !strings.Contains(strings.ToLower(err.Error()), "image") {
			cidFile.remove()
			return "", err
		}
		if !o.quiet {
			fmt.Fprintf(s.err, "Unable to find image '%s' locally\n", reference.FamiliarString(named))
		}
		if err := pullImage(ctx, api, s, cfg.Config.Image, platform, o.quiet); err != nil {
			cidFile.remove()
			return "", err
		}
		if res, err = create(); err != nil {
			cidFile.remove()
			return "", err
		}
	}
	for _, warning := range res.Warnings {
		fmt.Fprintln(s.err, "WARNING:", warning)
	}
	return res.ID, cidFile.write(res.ID)
}

// cidFile is --cidfile: created (exclusively) before the container, filled
// with its ID after, removed if creation fails.
type cidFile struct {
	path string
	f    *os.File
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, f: f}, nil
}

func (c *cidFile) remove() {
	if c.f != nil {
		_ = c.f.Close()
		_ = os.Remove(c.path)
	}
}

func (c *cidFile) write(id string) error {
	if c.f == nil {
		return nil
	}
	defer c.f.Close()
	if _, err := c.f.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID to the file: %w", err)
	}
	return nil
}

type runOptions struct {
	createOptions
	detach     bool
	sigProxy   bool
	detachKeys string
}

// runRun is `berth run`: create (pulling if needed), attach before start
// unless detached, start, and exit with the container's status.
func runRun(ctx context.Context, api apiClient, s streams, cfg *createConfig, o runOptions, attachFlags int) error {
	config := cfg.Config
	config.ArgsEscaped = false
	if !o.detach {
		if config.AttachStdin && config.Tty {
			if _, isTerm := s.inFd(); !isTerm {
				return errors.New("the input device is not a TTY")
			}
		}
	} else {
		if attachFlags != 0 {
			return errors.New("conflicting options: cannot specify both --attach and --detach")
		}
		config.AttachStdin, config.AttachStdout, config.AttachStderr, config.StdinOnce = false, false, false, false
	}
	if err := validateDetachKeys(o.detachKeys); err != nil {
		return err
	}

	id, err := createContainer(ctx, api, s, cfg, o.createOptions)
	if err != nil {
		return toStatusError(err, "run")
	}
	if o.sigProxy {
		sigc := make(chan os.Signal, 128)
		gosignal.Notify(sigc)
		go forwardSignals(context.WithoutCancel(ctx), api, id, sigc)
		defer gosignal.Stop(sigc)
	}

	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()

	attach := config.AttachStdin || config.AttachStdout || config.AttachStderr
	var errCh chan error
	if attach {
		closeFn, ch, err := attachContainer(ctx, api, s, id, config, o.detachKeys)
		if err != nil {
			return err
		}
		defer closeFn()
		errCh = ch
	}

	statusCtx, cancelStatus := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStatus()
	statusC := waitExitOrRemoved(statusCtx, api, id, cfg.HostConfig.AutoRemove)

	if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if attach {
			cancel()
			<-errCh
		}
		// The error is reported at once, as docker does, not after the
		// wait for an --rm container's removal.
		serr := toStatusError(err, "run")
		fmt.Fprintln(s.err, serr.Status)
		if cfg.HostConfig.AutoRemove {
			<-statusC
		}
		return command.StatusError{StatusCode: serr.StatusCode}
	}
	if !attach {
		fmt.Fprintln(s.out, id)
		return nil
	}
	if config.Tty {
		if _, isTerm := s.outFd(); isTerm {
			monitorTTYSize(ctx, api, s, id, false)
		}
	}
	select {
	case err := <-errCh:
		if err != nil {
			var esc term.EscapeError
			if errors.As(err, &esc) {
				return nil
			}
			logrus.Debugf("Error hijack: %s", err)
			return err
		}
		if status := <-statusC; status != 0 {
			return command.StatusError{StatusCode: status}
		}
	case status := <-statusC:
		if !config.AttachStdout && !config.AttachStderr {
			cancel()
		}
		<-errCh
		if status != 0 {
			return command.StatusError{StatusCode: status}
		}
	}
	return nil
}

// attachContainer attaches to id's streams and copies them in the
// background; the channel receives the end of the copy.
func attachContainer(ctx context.Context, api apiClient, s streams, id string, config *container.Config, detachKeys string) (func(), chan error, error) {
	res, err := api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      config.AttachStdin,
		Stdout:     config.AttachStdout,
		Stderr:     config.AttachStderr,
		DetachKeys: detachKeys,
	})
	if err != nil {
		return nil, nil, err
	}
	h := &hijackedStreamer{s: s, resp: res.HijackedResponse, tty: config.Tty, detachKeys: detachKeys}
	if config.AttachStdin {
		h.in = s.in
	}
	if config.AttachStdout {
		h.out = s.out
	}
	if config.AttachStderr {
		if config.Tty {
			h.errOut = s.out
		} else {
			h.errOut = s.err
		}
	}
	ch := make(chan error, 1)
	go func() { ch <- h.stream(ctx) }()
	return res.HijackedResponse.Close, ch, nil
}

// waitExitOrRemoved starts waiting for id (next exit, or removal when
// autoRemove) and delivers its exit status; 125 if the wait fails.
func waitExitOrRemoved(ctx context.Context, api client.ContainerAPIClient, id string, autoRemove bool) <-chan int {
	cond := container.WaitConditionNextExit
	if autoRemove {
		cond = container.WaitConditionRemoved
	}
	res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	statusC := make(chan int, 1)
	go func() {
		defer close(statusC)
		select {
		case <-ctx.Done():
		case r := <-res.Result:
			if r.Error != nil {
				logrus.Errorf("Error waiting for container: %v", r.Error.Message)
				statusC <- 125
				return
			}
			statusC <- int(r.StatusCode)
		case err := <-res.Error:
			if errors.Is(err, context.Canceled) {
				return
			}
			logrus.Errorf("error waiting for container: %v", err)
			statusC <- 125
		}
	}()
	return statusC
}

// forwardSignals sends each signal berth receives to the container, as
// docker's --sig-proxy does.
func forwardSignals(ctx context.Context, api client.ContainerAPIClient, id string, sigc <-chan os.Signal) {
	for {
		var s os.Signal
		select {
		case s = <-sigc:
		case <-ctx.Done():
			return
		}
		if s == signal.SIGCHLD || s == signal.SIGPIPE || s == syscall.SIGURG || s == signal.SIGWINCH {
			continue
		}
		name := ""
		for k, v := range signal.SignalMap {
			if v == s {
				name = k
				break
			}
		}
		if name == "" {
			continue
		}
		if _, err := api.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: name}); err != nil {
			logrus.Debugf("Error sending signal: %s", err)
		}
	}
}

var defaultEscapeKeys = []byte{16, 17} // ctrl-p, ctrl-q

func validateDetachKeys(keys string) error {
	if keys == "" {
		return nil
	}
	if _, err := term.ToBytes(keys); err != nil {
		return fmt.Errorf("invalid detach keys (%s): %w", keys, err)
	}
	return nil
}

// hijackedStreamer copies between the standard streams and an attach (or
// exec) connection: raw (TTY) or multiplexed output, stdin with the detach
// key sequence, the terminal in raw mode while it runs.
type hijackedStreamer struct {
	s           streams
	in          io.Reader
	out, errOut io.Writer
	resp        client.HijackedResponse
	tty         bool
	detachKeys  string
}

func (h *hijackedStreamer) stream(ctx context.Context) error {
	restore, err := h.setupInput()
	if err != nil {
		return fmt.Errorf("unable to setup input stream: %s", err)
	}
	defer restore()

	var outputDone chan error
	if h.out != nil || h.errOut != nil {
		outputDone = make(chan error, 1)
		go func() {
			var err error
			if h.out != nil && h.tty {
				_, err = io.Copy(h.out, h.resp.Reader)
				restore()
			} else {
				_, err = stdcopy.StdCopy(orDiscard(h.out), orDiscard(h.errOut), h.resp.Reader)
			}
			outputDone <- err
		}()
	}
	inputDone := make(chan struct{})
	detached := make(chan error, 1)
	go func() {
		if h.in != nil {
			_, err := io.Copy(h.resp.Conn, h.in)
			restore()
			var esc term.EscapeError
			if errors.As(err, &esc) {
				detached <- err
				return
			}
		}
		_ = h.resp.CloseWrite()
		close(inputDone)
	}()

	select {
	case err := <-outputDone:
		return err
	case <-inputDone:
		if outputDone != nil {
			select {
			case err := <-outputDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	case err := <-detached:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// setupInput puts the terminal in raw mode for a TTY session with stdin
// and wraps stdin in the detach-keys proxy. restore undoes it once.
func (h *hijackedStreamer) setupInput() (func(), error) {
	if h.in == nil || !h.tty {
		return func() {}, nil
	}
	keys := defaultEscapeKeys
	if h.detachKeys != "" {
		k, err := term.ToBytes(h.detachKeys)
		if err != nil {
			return nil, fmt.Errorf("invalid detach keys (%s): %w", h.detachKeys, err)
		}
		keys = k
	}
	var restorers []func()
	if fd, ok := h.s.inFd(); ok && term.IsTerminal(fd) {
		if st, err := term.SetRawTerminal(fd); err == nil {
			restorers = append(restorers, func() { _ = term.RestoreTerminal(fd, st) })
		}
	}
	if fd, ok := h.s.outFd(); ok && term.IsTerminal(fd) {
		if st, err := term.SetRawTerminalOutput(fd); err == nil {
			restorers = append(restorers, func() { _ = term.RestoreTerminal(fd, st) })
		}
	}
	h.in = term.NewEscapeProxy(h.in, keys)
	return sync.OnceFunc(func() {
		for _, r := range restorers {
			r()
		}
	}), nil
}

// monitorTTYSize sizes the container's (or exec's) TTY to the terminal now,
// retrying briefly as docker does, and again on every SIGWINCH.
func monitorTTYSize(ctx context.Context, api apiClient, s streams, id string, isExec bool) {
	resize := func() error {
		h, w := s.ttySize()
		if h == 0 && w == 0 {
			return nil
		}
		var err error
		if isExec {
			_, err = api.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
		} else {
			_, err = api.ContainerResize(ctx, id, client.ContainerResizeOptions{Height: h, Width: w})
		}
		return err
	}
	if err := resize(); err != nil {
		go func() {
			var err error
			for retry := range 10 {
				time.Sleep(time.Duration(retry+1) * 10 * time.Millisecond)
				if err = resize(); err == nil {
					return
				}
			}
			fmt.Fprintln(s.err, "failed to resize tty, using default size")
		}()
	}
	sigc := make(chan os.Signal, 1)
	gosignal.Notify(sigc, signal.SIGWINCH)
	go func() {
		defer gosignal.Stop(sigc)
		for {
			select {
			case <-sigc:
				_ = resize()
			case <-ctx.Done():
				return
			}
		}
	}()
}
