package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"

	"github.com/berth-engine/berth/container/shim/internal/proto"
)

// Spawn starts a detached shim (binary, normally berth-shim next to
// berthd's executable) for the container o describes. The shim runs in its
// own session and process group with its stdio on StateDir/shim.log, and is
// reaped by a goroutine of this process while it lives. It creates the
// container (libcontainer Create and Start: the init exists, blocked before
// the exec of the user's program) and Spawn returns once that succeeded;
// Client.Start runs the program.
//
// When the create fails, the error is the shim's (e.g. `exec: "nosuch":
// executable file not found in $PATH`, classified errdefs.ErrInvalidArgument)
// and nothing is left behind: no shim, no state dir, no cgroups. The state
// dir must not hold another shim's options.
func Spawn(ctx context.Context, binary string, o Options) (*Client, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	if o.LogMaxFiles < 1 {
		o.LogMaxFiles = 1
	}
	if err := os.MkdirAll(o.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	optsPath := filepath.Join(o.StateDir, proto.OptionsFile)
	if _, err := os.Lstat(optsPath); err == nil {
		return nil, fmt.Errorf("%w: shim: state dir %s is in use", errdefs.ErrConflict, o.StateDir)
	}
	fail := func(err error) (*Client, error) {
		os.RemoveAll(o.StateDir)
		return nil, err
	}
	b, err := json.Marshal(&o)
	if err != nil {
		return fail(err)
	}
	if err := proto.WriteFileAtomic(optsPath, b, 0o600, false); err != nil {
		return fail(fmt.Errorf("shim: %w", err))
	}
	logf, err := os.OpenFile(filepath.Join(o.StateDir, proto.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fail(fmt.Errorf("shim: %w", err))
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		logf.Close()
		return fail(err)
	}
	cmd := exec.Command(binary, "serve", o.StateDir)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		proto.ReadyFdEnv + "=3",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	logf.Close()
	wr.Close()
	if err != nil {
		rd.Close()
		return fail(fmt.Errorf("shim: start %s: %w", binary, err))
	}
	reaped := make(chan struct{})
	go func() {
		cmd.Wait()
		close(reaped)
	}()

	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(rd)
		rd.Close()
		ch <- result{b, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-reaped
		Cleanup(context.WithoutCancel(ctx), binary, o.StateDir)
		return fail(ctx.Err())
	}
	var ready proto.Ready
	if len(bytes.TrimSpace(res.b)) > 0 {
		if err := json.Unmarshal(res.b, &ready); err != nil {
			ready.Error = "bad readiness message: " + err.Error()
		}
	} else {
		// The shim died before it could say anything.
		<-reaped
		msg := strings.TrimSpace(tail(filepath.Join(o.StateDir, proto.LogFile), 2048))
		if msg == "" {
			msg = cmd.ProcessState.String()
		}
		Cleanup(context.WithoutCancel(ctx), binary, o.StateDir)
		return fail(fmt.Errorf("shim: %s exited before the container was created: %s", binary, msg))
	}
	if ready.Error != "" {
		// The shim cleans up what it created and exits.
		<-reaped
		return fail(classifyCreateError(ready.Error))
	}
	return &Client{stateDir: o.StateDir, pid: cmd.Process.Pid, reaped: reaped}, nil
}

// classifyCreateError turns the shim's create error into an error of the
// right errdefs class, as Docker does for its runtime's start errors.
func classifyCreateError(msg string) error {
	for _, s := range []string{"executable file not found", "no such file or directory", "permission denied", "not a directory", "is a directory"} {
		if strings.Contains(msg, s) {
			return &Error{Msg: msg, Kind: proto.KindInvalid}
		}
	}
	return &Error{Msg: msg}
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// Cleanup runs `binary cleanup stateDir`: it kills a shim left running
// there, kills and destroys the libcontainer container if it still exists,
// removes leftover cgroup directories (as a crash between create and start
// leaves them) and the libcontainer state, then removes stateDir. Use it for
// state dirs whose shim does not answer (Connect returned ErrNoShim), after
// reading ReadExit. It is idempotent: a missing stateDir is not an error.
func Cleanup(ctx context.Context, binary, stateDir string) error {
	if _, err := os.Stat(stateDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	out, err := exec.CommandContext(ctx, binary, "cleanup", stateDir).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("shim: cleanup %s: %s", stateDir, msg)
	}
	return nil
}
