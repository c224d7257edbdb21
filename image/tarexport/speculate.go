package tarexport

import (
	"context"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"os"
	"path"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Speculative registration.
//
// Load must unpack the whole archive before it knows how its layers stack: the manifests come
// last in every archive docker (and Berth) writes, after the layers. Registering then reads
// every layer a second time, after the archive has been read, and the two passes add up.
//
// A base layer needs no parent, though, so it can be registered while the archive streams in.
// Load guesses which layer file is a base layer and registers it as one as it unpacks it (into
// the temp dir as well, as always): the first large file that looks like a layer (a legacy
// <id>/layer.tar whose <id>/json names no parent, or a blob of an OCI layout that is not a
// layer already in the store). When the plan turns out to want that file as a base layer, and
// everything Load checks of a layer holds (diff ID, blob digest and size), the registered
// layer is used and the file is not read again. Otherwise the guess is dropped (released, so
// the store removes it) and the layer is registered from the unpacked file as if nothing had
// happened: a wrong guess costs work done on the side while the archive is read, never a
// different outcome.

// speculateMinSize is the smallest layer file worth guessing on (a variable for tests).
var speculateMinSize int64 = 8 << 20

// speculation is one layer file registered as a base layer while the archive is unpacked. The
// registration reads the file as extract writes it, following it to its end: unpacking never
// waits for the registration.
type speculation struct {
	path string        // where the file is in the unpacked archive
	blob digest.Digest // what its name says its digest is, if anything

	mu     sync.Mutex
	cond   sync.Cond
	avail  int64 // bytes written to the file so far
	ended  bool  // the file is complete, or failed (werr)
	werr   error
	rf     *os.File // the registration's reader of the file
	rfRead int64

	done chan struct{} // closed when the results below are set
	used bool          // handed over to the loader's references

	chain, diffID digest.Digest
	release       func()
	err           error
	rawDigest     digest.Digest // of the file's bytes, in blob's algorithm, if blob is set
	rawSize       int64
	compressed    bool
}

// speculator decides which file to guess on, for one Load.
type speculator struct {
	l       *loader
	ctx     context.Context // the registration's: canceled when nothing needs it
	cancel  context.CancelFunc
	started bool
	spec    *speculation
}

func newSpeculator(l *loader) *speculator {
	ctx, cancel := context.WithCancel(l.ctx)
	return &speculator{l: l, ctx: ctx, cancel: cancel}
}

// begin is called by extract for every regular file it unpacks, once the file is created; if
// the file is to be registered on the side, extract reports its progress to the returned
// speculation as it writes it, and calls end once it is written (or failed).
func (s *speculator) begin(name string, size int64) *speculation {
	if s == nil || s.started || size < speculateMinSize || !s.candidate(name) {
		return nil
	}
	s.started = true
	rf, err := s.l.root.Open(name)
	if err != nil {
		return nil
	}
	sp := &speculation{path: name, blob: digestFromPath(name), rf: rf, done: make(chan struct{})}
	sp.cond.L = &sp.mu
	if sp.blob != "" && !sp.blob.Algorithm().Available() {
		sp.blob = ""
	}
	s.spec = sp
	go sp.run(s.ctx, s.l.store)
	return sp
}

// candidate reports whether the file may be a base layer that is not in the store yet.
func (s *speculator) candidate(name string) bool {
	switch {
	case path.Base(name) == "layer.tar":
		// The legacy layout's <id>/json, read before <id>/layer.tar, names its parent.
		f, err := s.l.root.Open(path.Join(path.Dir(name), "json"))
		if err != nil {
			return true
		}
		b, err := readFull(f, 1<<20)
		f.Close()
		if err != nil {
			return true
		}
		var v1 struct {
			Parent string `json:"parent"`
		}
		return json.Unmarshal(b, &v1) != nil || v1.Parent == ""
	case digestFromPath(name) != "" && path.Dir(path.Dir(name)) == "blobs":
		// A blob named after the diff ID of a base layer the store has is not read at all.
		if release, err := s.l.store.GetLayer(digestFromPath(name)); err == nil {
			release()
			return false
		}
		return true
	}
	return false
}

// wrote tells the registration that n more bytes of the file are written.
func (sp *speculation) wrote(n int) {
	sp.mu.Lock()
	sp.avail += int64(n)
	sp.mu.Unlock()
	sp.cond.Signal()
}

// end tells the registration the file is complete (err nil) or failed.
func (sp *speculation) end(err error) {
	sp.mu.Lock()
	sp.ended, sp.werr = true, err
	sp.mu.Unlock()
	sp.cond.Signal()
}

// Read reads the file as far as it is written, waiting for more until it is complete.
func (sp *speculation) Read(p []byte) (int, error) {
	sp.mu.Lock()
	for sp.rfRead == sp.avail && !sp.ended {
		sp.cond.Wait()
	}
	avail, ended, werr := sp.avail, sp.ended, sp.werr
	sp.mu.Unlock()
	if sp.rfRead == avail {
		if werr != nil {
			return 0, werr
		}
		if ended {
			return 0, io.EOF
		}
	}
	if left := avail - sp.rfRead; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := sp.rf.Read(p)
	sp.rfRead += int64(n)
	if errors.Is(err, io.EOF) {
		err = nil
		if n == 0 {
			err = io.ErrUnexpectedEOF // shorter than written: cannot happen
		}
	}
	return n, err
}

func (sp *speculation) run(ctx context.Context, store Store) {
	defer close(sp.done)
	defer sp.rf.Close()
	var raw io.Reader = sp
	var rawHash hash.Hash
	if sp.blob != "" {
		rawHash = sp.blob.Algorithm().Hash()
		raw = io.TeeReader(sp, rawHash)
	}
	counted := &countingInput{r: raw}
	in := &inputReader{ctx: ctx, r: counted}
	dec, err := decompress(in)
	if err != nil {
		sp.err = err
		return
	}
	defer dec.Close()
	sp.compressed = dec.compressed
	decIn := &inputReader{ctx: ctx, r: dec}
	chain, diffID, release, err := store.RegisterLayer(decIn, "")
	if err == nil {
		if _, err = io.Copy(io.Discard, decIn); err == nil {
			err = dec.drainSource()
		}
	}
	if err != nil {
		if release != nil {
			release()
		}
		sp.err = err
		return
	}
	sp.chain, sp.diffID, sp.release = chain, diffID, release
	sp.rawSize = counted.n
	if rawHash != nil {
		sp.rawDigest = digest.NewDigest(sp.blob.Algorithm(), rawHash)
	}
}

// countingInput counts the bytes read through it.
type countingInput struct {
	r io.Reader
	n int64
}

func (c *countingInput) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// take returns the registered layer if the speculation was on the file of p.layers[i] and
// the layer is what the plan wants there as a base layer; the caller then holds its
// reference. A speculation on that file that does not fit is dropped.
func (s *speculator) take(p *imagePlan, i int) (release func(), ok bool) {
	if s == nil {
		return nil, false
	}
	sp := s.spec
	if sp == nil || sp.used {
		return nil, false
	}
	src := p.layers[i]
	if !s.sameFile(sp.path, src.path) {
		return nil, false
	}
	<-sp.done
	sp.used = true // one way or the other
	fits := sp.err == nil && sp.diffID == p.diffIDs[i] && sp.chain == p.diffIDs[i] &&
		(src.blob == "" || src.blob == p.diffIDs[i] && !sp.compressed ||
			src.blob != p.diffIDs[i] && sp.rawDigest == src.blob) &&
		(src.size < 0 || sp.rawSize == src.size)
	if !fits {
		if sp.release != nil {
			sp.release()
		}
		return nil, false
	}
	return sp.release, true
}

func (s *speculator) sameFile(a, b string) bool {
	if a == b {
		return true
	}
	fa, err := s.l.root.Stat(a)
	if err != nil {
		return false
	}
	fb, err := s.l.root.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(fa, fb)
}

// finish stops the speculation if nothing took it, and drops what it registered.
func (s *speculator) finish() {
	if s == nil {
		return
	}
	defer s.cancel()
	sp := s.spec
	if sp == nil || sp.used {
		return
	}
	sp.used = true
	s.cancel()
	<-sp.done
	if sp.release != nil {
		sp.release()
	}
}
