package distribution

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/containerd/errdefs"
)

// gzipCommands are the gzip decoders tests run: in process (""), and igzip
// and gzip where they are on PATH. `gzip -d -c` works as `igzip -d -c`
// does, so that the external process is tested where isal is missing.
func gzipCommands(t *testing.T) []string {
	t.Helper()
	cmds := []string{""}
	for _, name := range []string{"igzip", "gzip"} {
		if path, err := exec.LookPath(name); err == nil {
			cmds = append(cmds, path)
		} else {
			t.Logf("%s is not on PATH: not tested", name)
		}
	}
	return cmds
}

func decoderName(cmd string) string {
	if cmd == "" {
		return "in-process"
	}
	return filepath.Base(cmd)
}

// mixedData is size bytes, half random and half repetitive in 4 KiB blocks,
// which gzip about halves, like real layers.
func mixedData(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, size)
	for off := 0; off < size; off += 4096 {
		block := b[off:min(off+4096, size)]
		if rng.IntN(2) == 0 {
			for i := range block {
				block[i] = byte(rng.Uint32())
			}
		} else {
			for i := range block {
				block[i] = "berth gunzip test\n"[i%18]
			}
		}
	}
	return b
}

// noLeftovers returns a check that this process has no child process (an
// external decoder not waited for, a zombie) and no more pipes open than
// now.
func noLeftovers(t *testing.T) func() {
	t.Helper()
	before := openPipes(t)
	return func() {
		t.Helper()
		if kids := childProcesses(t); len(kids) > 0 {
			t.Errorf("child processes left: %v", kids)
		}
		if after := openPipes(t); after > before {
			t.Errorf("%d pipes open, %d before", after, before)
		}
	}
}

func openPipes(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, "pipe:") {
			n++
		}
	}
	return n
}

// childProcesses lists the processes whose parent is this one, with their
// state ("igzip Z" for a zombie).
func childProcesses(t *testing.T) []string {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	me := os.Getpid()
	var kids []string
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(string(stat[closing+1:]))
		if len(f) >= 2 && f[1] == strconv.Itoa(me) {
			kids = append(kids, string(stat[open+1:closing])+" "+f[0])
		}
	}
	return kids
}

// stallingReader reads r, then blocks until ctx ends.
type stallingReader struct {
	ctx context.Context
	r   io.Reader
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if n, err := s.r.Read(p); err != io.EOF {
		return n, err
	}
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

var errBlob = errors.New("the blob's own failure")

func TestDecompressGzip(t *testing.T) {
	content := mixedData(6<<20, 1)
	blob := compress(t, "gzip", content)
	flipped := func(i int) []byte {
		b := bytes.Clone(blob)
		b[i] ^= 0xff
		return b
	}
	for _, cmd := range gzipCommands(t) {
		t.Run(decoderName(cmd), func(t *testing.T) {
			// readAll decompresses src and checks nothing is left behind.
			readAll := func(t *testing.T, ctx context.Context, src io.Reader) ([]byte, error) {
				t.Helper()
				defer noLeftovers(t)()
				dec, err := decompress(ctx, src, cmd)
				if err != nil {
					return nil, err
				}
				defer dec.Close()
				return io.ReadAll(dec)
			}
			t.Run("whole", func(t *testing.T) {
				got, err := readAll(t, context.Background(), bytes.NewReader(blob))
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("%d bytes, %v; want %d", len(got), err, len(content))
				}
			})
			for name, bad := range map[string][]byte{
				"corrupt":      flipped(len(blob) / 2),
				"bad checksum": flipped(len(blob) - 8),
				"truncated":    blob[:len(blob)/2],
			} {
				t.Run(name, func(t *testing.T) {
					_, err := readAll(t, context.Background(), bytes.NewReader(bad))
					if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid compressed data") {
						t.Fatalf("err = %v", err)
					}
				})
			}
			// The blob's failure is reported as is, and never as the end
			// of the stream, however complete the gzip data looks: it is a
			// digest mismatch found at the blob's end.
			t.Run("blob fails at its end", func(t *testing.T) {
				_, err := readAll(t, context.Background(), io.MultiReader(bytes.NewReader(blob), iotest.ErrReader(errBlob)))
				if !errors.Is(err, errBlob) {
					t.Fatalf("err = %v", err)
				}
			})
			t.Run("blob fails midway", func(t *testing.T) {
				_, err := readAll(t, context.Background(), io.MultiReader(bytes.NewReader(blob[:len(blob)/2]), iotest.ErrReader(errBlob)))
				if !errors.Is(err, errBlob) {
					t.Fatalf("err = %v", err)
				}
			})
			t.Run("cancelled", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				// igzip inflates input in 1 MiB pieces: it gets more.
				src := &stallingReader{ctx: ctx, r: bytes.NewReader(blob[:len(blob)*3/4])}
				check := noLeftovers(t)
				dec, err := decompress(ctx, src, cmd)
				if err != nil {
					t.Fatal(err)
				}
				// Read some, the blob stalls, the pull is cancelled.
				buf := make([]byte, 64<<10)
				for n := 0; n < 1<<20; {
					m, err := dec.Read(buf)
					if err != nil {
						t.Fatalf("after %d bytes: %v", n, err)
					}
					n += m
				}
				cancel()
				if _, err := io.Copy(io.Discard, dec); !errors.Is(err, context.Canceled) {
					t.Fatalf("err = %v", err)
				}
				dec.Close()
				check()
			})
			t.Run("closed early", func(t *testing.T) {
				check := noLeftovers(t)
				dec, err := decompress(context.Background(), bytes.NewReader(blob), cmd)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(dec, make([]byte, 1024)); err != nil {
					t.Fatal(err)
				}
				dec.Close()
				check()
			})
		})
	}
}

// TestDecompressGzipCommandFails checks a command that cannot run or
// fails at once: its failure, quoting what it said, and nothing left.
func TestDecompressGzipCommandFails(t *testing.T) {
	blob := compress(t, "gzip", []byte("content"))
	check := noLeftovers(t)
	if _, err := decompress(context.Background(), bytes.NewReader(blob), "/nonexistent/igzip"); err == nil || !strings.Contains(err.Error(), "starting /nonexistent/igzip") {
		t.Fatalf("err = %v", err)
	}
	script := filepath.Join(t.TempDir(), "igzip")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'igzip: out of luck' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dec, err := decompress(context.Background(), bytes.NewReader(blob), script)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(dec)
	dec.Close()
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "exit status 3: igzip: out of luck") {
		t.Fatalf("err = %v", err)
	}
	check()
}

func TestFindGzipCommand(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "igzip")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == DisableIgzipEnv {
				return v
			}
			return ""
		}
	}
	t.Setenv("PATH", dir)
	for v, want := range map[string]string{"": fake, "0": fake, "false": fake, "1": "", "true": "", "bogus": fake} {
		if got := FindGzipCommand(env(v), nil); got != want {
			t.Errorf("%s=%q: %q, want %q", DisableIgzipEnv, v, got, want)
		}
	}
	t.Setenv("PATH", t.TempDir())
	if got := FindGzipCommand(env(""), nil); got != "" {
		t.Errorf("without igzip on PATH: %q", got)
	}
}
