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
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

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
	if err := prepare(&o); err != nil {
		return nil, err
	}
	p, err := startCold(binary, o.StateDir)
	if err != nil {
		os.RemoveAll(o.StateDir)
		return nil, err
	}
	return await(ctx, binary, o, p)
}

// prepare checks o and writes it into its state dir for the shim.
func prepare(o *Options) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errdefs.ErrInvalidArgument, err)
	}
	if o.LogMaxFiles < 1 {
		o.LogMaxFiles = 1
	}
	if err := os.MkdirAll(o.StateDir, 0o711); err != nil {
		return fmt.Errorf("shim: %w", err)
	}
	optsPath := filepath.Join(o.StateDir, proto.OptionsFile)
	if _, err := os.Lstat(optsPath); err == nil {
		return fmt.Errorf("%w: shim: state dir %s is in use", errdefs.ErrConflict, o.StateDir)
	}
	b, err := json.Marshal(o)
	if err == nil {
		err = proto.WriteFileAtomic(optsPath, b, 0o600)
	}
	if err != nil {
		os.RemoveAll(o.StateDir)
		return fmt.Errorf("shim: %w", err)
	}
	return nil
}

// shimProc is a shim process this one started.
type shimProc struct {
	cmd    *exec.Cmd
	ready  *os.File      // read end of the readiness pipe (the shim's fd 3)
	stdin  *os.File      // a warm shim's stdin, where its state dir is sent
	reaped chan struct{} // closed once the shim was waited for
}

// startProc starts binary with args in its own session, its stdio on
// out, the readiness pipe on fd 3 and, with warm, a pipe on stdin.
func startProc(binary string, args []string, out *os.File, warm bool) (*shimProc, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		proto.ReadyFdEnv + "=3",
		// One P: a shim serves one container, and libcontainer hands this
		// variable to the container's init, the same binary, which then
		// starts fewer threads on every container start (~2 ms here).
		"GOMAXPROCS=1",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	p := &shimProc{cmd: cmd, ready: rd, reaped: make(chan struct{})}
	var stdinRd *os.File
	if warm {
		if stdinRd, p.stdin, err = os.Pipe(); err != nil {
			rd.Close()
			wr.Close()
			return nil, err
		}
		cmd.Stdin = stdinRd
	}
	err = cmd.Start()
	wr.Close()
	if stdinRd != nil {
		stdinRd.Close()
	}
	if err != nil {
		rd.Close()
		if p.stdin != nil {
			p.stdin.Close()
		}
		return nil, fmt.Errorf("shim: start %s: %w", binary, err)
	}
	go func() {
		cmd.Wait()
		close(p.reaped)
	}()
	return p, nil
}

// startCold starts a shim for stateDir, its stdio on the state dir's log.
func startCold(binary, stateDir string) (*shimProc, error) {
	logf, err := os.OpenFile(filepath.Join(stateDir, proto.LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shim: %w", err)
	}
	defer logf.Close()
	return startProc(binary, []string{"serve", stateDir}, logf, false)
}

// await waits for the shim's readiness message: the container is created,
// or the create failed and the shim cleaned up and exited.
func await(ctx context.Context, binary string, o Options, p *shimProc) (*Client, error) {
	fail := func(err error) (*Client, error) {
		os.RemoveAll(o.StateDir)
		return nil, err
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(p.ready)
		p.ready.Close()
		ch <- result{b, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		p.cmd.Process.Kill()
		<-p.reaped
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
		<-p.reaped
		msg := strings.TrimSpace(tail(filepath.Join(o.StateDir, proto.LogFile), 2048))
		if msg == "" {
			msg = p.cmd.ProcessState.String()
		}
		Cleanup(context.WithoutCancel(ctx), binary, o.StateDir)
		return fail(fmt.Errorf("shim: %s exited before the container was created: %s", binary, msg))
	}
	if ready.Error != "" {
		// The shim cleans up what it created and exits.
		<-p.reaped
		return fail(classifyCreateError(ready.Error))
	}
	return &Client{stateDir: o.StateDir, pid: p.cmd.Process.Pid, initPid: ready.Pid, reaped: p.reaped}, nil
}

// Spawner spawns shims like Spawn, but keeps one shim process started
// ahead of need ("warm": executed, its runtime initialised, waiting on its
// stdin for a state dir), so that a container start does not wait for the
// shim's exec and start-up. A warm shim exits when its stdin closes: at
// Close, or when berthd dies.
type Spawner struct {
	binary, poolDir string

	mu     sync.Mutex
	warm   *shimProc
	refill *time.Timer // a Refill waiting for refillDelay
	closed bool
}

// refillDelay is how long Refill waits before it starts the next warm
// shim. A shim's start-up (exec, Go's runtime, the JSON warm-up) is 25-30
// ms of CPU; right after a start it competed on two cores with the new
// container's first moments (its exec, the exit of a short command) and the
// client's next requests. Started 60 ms later, `docker run --rm busybox
// true` took a median of 1.95-2.0x the runc floor instead of 2.1-2.2x
// (hack/runbench), and 50 parallel starts were no slower.
const refillDelay = 60 * time.Millisecond

// NewSpawner returns a Spawner of binary for state dirs directly under
// poolDir, and starts its first warm shim.
func NewSpawner(binary, poolDir string) *Spawner {
	s := &Spawner{binary: binary, poolDir: filepath.Clean(poolDir)}
	dropCleanCache(binary)
	go s.startWarm()
	return s
}

// dropCleanCache asks the kernel to drop the binary's clean page cache
// that no process maps. A binary just written (by the linker, or `make
// install`) sits in the cache in large folios, and every shim's faults then
// map whole folios of it: each shim's RSS counted ~5 MiB of the binary
// instead of the ~1.5 MiB it touches (measured with a 7 MiB berth-shim on
// ext4, kernel 6.18). Read back through exec's readahead, it is mapped in
// small pieces. Pages that running shims map (after a live restore) stay.
// Best effort: a failure costs only RSS.
func dropCleanCache(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// Spawn is Spawn(ctx, binary, o) through a warm shim when there is one.
// o.StateDir must be directly under the pool dir.
func (s *Spawner) Spawn(ctx context.Context, o Options) (*Client, error) {
	if filepath.Dir(filepath.Clean(o.StateDir)) != s.poolDir {
		return Spawn(ctx, s.binary, o)
	}
	if err := prepare(&o); err != nil {
		return nil, err
	}
	s.mu.Lock()
	p := s.warm
	s.warm = nil
	s.mu.Unlock()
	if p != nil {
		if _, err := io.WriteString(p.stdin, filepath.Clean(o.StateDir)+"\n"); err != nil {
			p.cmd.Process.Kill() // gone or stuck: start a cold one
			p.ready.Close()
			p = nil
		}
	}
	if p != nil {
		p.stdin.Close()
	} else {
		var err error
		if p, err = startCold(s.binary, o.StateDir); err != nil {
			os.RemoveAll(o.StateDir)
			return nil, err
		}
	}
	return await(ctx, s.binary, o, p)
}

// Refill starts a warm shim in the background, refillDelay from now, if
// none waits then. Spawn does not: its caller calls Refill once the
// container it spawned runs (or its start failed), so that the next shim's
// exec and start-up do not compete for the CPU with this start.
func (s *Spawner) Refill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.warm != nil || s.refill != nil {
		return
	}
	s.refill = time.AfterFunc(refillDelay, func() {
		s.mu.Lock()
		s.refill = nil
		s.mu.Unlock()
		s.startWarm()
	})
}

// startWarm starts a warm shim if none waits.
func (s *Spawner) startWarm() {
	s.mu.Lock()
	busy := s.closed || s.warm != nil
	s.mu.Unlock()
	if busy {
		return
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	p, err := startProc(s.binary, []string{"wait", s.poolDir}, null, true)
	null.Close()
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.warm != nil {
		p.stdin.Close() // not needed: it exits on EOF
		p.ready.Close()
		return
	}
	s.warm = p
}

// Close ends the warm shim; shims serving containers are not affected.
func (s *Spawner) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.refill != nil {
		s.refill.Stop()
		s.refill = nil
	}
	if s.warm != nil {
		s.warm.stdin.Close()
		s.warm.ready.Close()
		s.warm = nil
	}
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
