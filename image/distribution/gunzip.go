package distribution

// Inflating gzip layers in a process of their own.
//
// A pull of a gzip layer waits on inflate: klauspost/compress inflates
// about 200 MiB/s of output on this project's machines, slower than the
// rest of the pipeline (download, digests, extraction). igzip, the gzip
// tool of Intel's ISA-L (Debian's isal package), inflates two to three
// times as fast, so when a daemon finds it on PATH at start
// (FindGzipCommand), a gzip layer is inflated by `igzip -d -c`: a goroutine
// feeds it the blob through one pipe, the layer store reads its output from
// another. The blob's digest is still checked in Go, over the bytes
// downloaded; the process only ever sees them. containerd does the same
// (CONTAINERD_DISABLE_IGZIP turns it off). hack/pullbench measures it: a
// 200 MiB pull took 0.7-0.8 s with igzip, 1.1-1.3 s in process.
//
// Docker and containerd also run unpigz when it is there; Berth does not:
// pigz inflates with zlib, no faster than klauspost/compress, and behind
// its pipes a pull with it took 1.3 to 1.5 times as long as one inflating
// in process.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"
)

// DisableIgzipEnv names the environment variable that, set to a true value
// (1, true), keeps a daemon from inflating gzip layers with igzip.
const DisableIgzipEnv = "BERTH_DISABLE_IGZIP"

// FindGzipCommand returns the path of the external gzip decompressor a
// daemon should pass its pulls (PullOptions.GzipCommand): igzip found on
// PATH, or "" when there is none or getenv(DisableIgzipEnv) is true. A
// daemon calls it once, at start. log, if set, is told the choice.
func FindGzipCommand(getenv func(string) string, log logrus.FieldLogger) string {
	if v := getenv(DisableIgzipEnv); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil && log != nil {
			log.Warnf("%s=%q is not a boolean; ignoring it", DisableIgzipEnv, v)
		}
		if off {
			if log != nil {
				log.Infof("%s is set: gzip layers are inflated in process", DisableIgzipEnv)
			}
			return ""
		}
	}
	path, err := exec.LookPath("igzip")
	if err != nil {
		if log != nil {
			log.Debug("igzip is not on PATH: gzip layers are inflated in process")
		}
		return ""
	}
	if log != nil {
		log.Infof("gzip layers are inflated by %s", path)
	}
	return path
}

// gunzipProcess is a gzip stream inflated by an external command.
type gunzipProcess struct {
	ctx    context.Context
	cmd    *exec.Cmd
	out    *os.File      // the command's stdout
	stderr *stderrHead   // what it said
	in     io.Reader     // the blob, read by the feeder
	src    *sourceReader // under in: the blob's own error
	fed    chan struct{} // closed when the feeder is done with in and stdin

	waitOnce  sync.Once
	waitErr   error
	closeOnce sync.Once
}

// stderrKeep is how much of the command's stderr an error quotes.
const stderrKeep = 512

// startGunzip starts command -d -c on in, which a goroutine feeds it; src
// is the blob's reader under in. The command is killed when ctx ends or
// Close is called, whichever is first; Close waits for it and for the
// feeder, which ends once in does.
func startGunzip(ctx context.Context, command string, in io.Reader, src *sourceReader) (*gunzipProcess, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", command, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("starting %s: %w", command, err)
	}
	growPipe(inW)
	growPipe(outR)
	g := &gunzipProcess{ctx: ctx, out: outR, stderr: &stderrHead{}, in: in, src: src, fed: make(chan struct{})}
	g.cmd = exec.CommandContext(ctx, command, "-d", "-c")
	g.cmd.Stdin, g.cmd.Stdout, g.cmd.Stderr = inR, outW, g.stderr
	// Nothing else holds its stderr; in case something did, Wait would
	// not wait for it longer than this.
	g.cmd.WaitDelay = time.Second
	err = g.cmd.Start()
	// The child has its ends now.
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("starting %s: %w", command, err)
	}
	go g.feed(inW)
	return g, nil
}

// feed copies the blob to the command's stdin, then closes it: at the end
// of the blob, or at its first error (the command then fails on truncated
// input, and Read reports the blob's error). If the command stops reading
// first (it failed, or took the rest for trailing garbage), the rest of
// the blob is read all the same, so that its own error, if any, is seen.
func (g *gunzipProcess) feed(stdin *os.File) {
	defer close(g.fed)
	buf := make([]byte, bufSize)
	for {
		n, err := g.in.Read(buf)
		if n > 0 {
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				stdin.Close()
				_, _ = io.CopyBuffer(io.Discard, struct{ io.Reader }{g.in}, buf)
				return
			}
		}
		if err != nil {
			stdin.Close()
			return
		}
	}
}

// Read reads the command's output. At its end it waits for the command:
// io.EOF means the command inflated the whole blob and the blob itself
// read to its end without error.
func (g *gunzipProcess) Read(p []byte) (int, error) {
	n, err := g.out.Read(p)
	if n > 0 || err == nil {
		return n, nil
	}
	if !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("reading %s's output: %w", g.cmd.Path, err)
	}
	if werr := g.wait(); werr != nil {
		if serr := g.src.failed(); serr != nil {
			return 0, serr
		}
		if cerr := g.ctx.Err(); cerr != nil {
			return 0, cerr // it was killed
		}
		return 0, g.exitError(werr)
	}
	// It exited on its own and well: the blob must have ended well too (the
	// command saw a complete gzip stream even if the blob failed at its
	// end, a digest mismatch).
	<-g.fed
	if serr := g.src.failed(); serr != nil {
		return 0, serr
	}
	return 0, io.EOF
}

func (g *gunzipProcess) wait() error {
	g.waitOnce.Do(func() { g.waitErr = g.cmd.Wait() })
	return g.waitErr
}

// exitError words the command's failure: a corrupt or truncated blob, as
// far as it can tell, and so an invalid argument.
func (g *gunzipProcess) exitError(err error) error {
	msg := fmt.Sprintf("%s: %v", g.cmd.Path, err)
	if said := strings.TrimSpace(g.stderr.String()); said != "" {
		msg += ": " + said
	}
	return classed{base: errdefs.ErrInvalidArgument, msg: "invalid compressed data: " + msg, cause: err}
}

// Close kills the command if it still runs and waits for it and the
// feeder. It must not be called during a Read, and the blob's reader must
// end (a follower or streamReader does, with its context).
func (g *gunzipProcess) Close() error {
	g.closeOnce.Do(func() {
		// Killing an exited command is harmless until it is waited for,
		// and an error (ignored) after.
		_ = g.cmd.Process.Kill()
		_ = g.wait()
		g.out.Close()
		<-g.fed
	})
	return nil
}

// stderrHead keeps the first stderrKeep bytes written to it: the command's
// message, whatever else it writes.
type stderrHead struct {
	mu sync.Mutex
	b  []byte
}

func (s *stderrHead) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p[:min(len(p), stderrKeep-len(s.b))]...)
	return len(p), nil
}

func (s *stderrHead) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
