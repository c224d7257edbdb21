package layer

// Splitting a diff into tar-split metadata while it is applied, and
// reassembling it from that metadata and the driver's files (see tarfile.go
// for the why).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/vbatts/tar-split/archive/tar"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"
)

// chunkSize is the size of the buffers a diff is streamed through.
const chunkSize = 1 << 20

// pipeDepth is how many chunks the splitter may run ahead of the driver.
const pipeDepth = 4

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func getChunk() []byte  { return (*chunks.Get().(*[]byte))[:0] }
func putChunk(b []byte) { b = b[:cap(b)]; chunks.Put(&b) }

// chunkPipe hands a stream from one goroutine to another through a few
// buffers, so that the writer (reading, hashing and splitting the diff) runs
// ahead of the reader (the driver writing files) instead of in lockstep with
// it as with io.Pipe.
type chunkPipe struct {
	ch   chan []byte
	done chan struct{} // closed by closeRead
	once sync.Once
	werr error // the writer's error, set before ch is closed

	wbuf []byte // writer side: the chunk being filled

	rbuf []byte // reader side: the chunk being read, and what is left of it
	rcur []byte

	consumed atomic.Int64  // bytes the reader has taken
	progress chan struct{} // poked when consumed grows
}

func newChunkPipe() *chunkPipe {
	return &chunkPipe{ch: make(chan []byte, pipeDepth), done: make(chan struct{}), progress: make(chan struct{}, 1)}
}

func (p *chunkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.wbuf == nil {
			p.wbuf = getChunk()
		}
		c := copy(p.wbuf[len(p.wbuf):cap(p.wbuf)], b)
		p.wbuf = p.wbuf[:len(p.wbuf)+c]
		b, n = b[c:], n+c
		if len(p.wbuf) == cap(p.wbuf) {
			if err := p.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *chunkPipe) flush() error {
	if len(p.wbuf) == 0 {
		return nil
	}
	select {
	case p.ch <- p.wbuf:
		p.wbuf = nil
		return nil
	case <-p.done:
		return io.ErrClosedPipe
	}
}

// closeWrite flushes and ends the stream: the reader gets err, or io.EOF
// for nil.
func (p *chunkPipe) closeWrite(err error) {
	if err == nil {
		err = p.flush()
	}
	if p.wbuf != nil {
		putChunk(p.wbuf)
		p.wbuf = nil
	}
	p.werr = err
	close(p.ch)
}

func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.rcur) == 0 {
		if p.rbuf != nil {
			putChunk(p.rbuf)
			p.rbuf = nil
		}
		select {
		case <-p.done:
			return 0, io.ErrClosedPipe
		case c, ok := <-p.ch:
			if !ok {
				if p.werr != nil {
					return 0, p.werr
				}
				return 0, io.EOF
			}
			p.rbuf, p.rcur = c, c
		}
	}
	n := copy(b, p.rcur)
	p.rcur = p.rcur[n:]
	p.consumed.Add(int64(n))
	select {
	case p.progress <- struct{}{}:
	default:
	}
	return n, nil
}

// ReadByte makes the pipe an io.ByteReader, which says (as it does to
// compress/flate) that small reads are served from memory: the driver's
// tar reader reads the pipe's chunks directly instead of copying them into
// a bufio.Reader first.
func (p *chunkPipe) ReadByte() (byte, error) {
	var b [1]byte
	if _, err := p.Read(b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

// closeRead makes the writer's pending and future writes fail, for a
// reader that stops early.
func (p *chunkPipe) closeRead() { p.once.Do(func() { close(p.done) }) }

// splitWriter writes a layer's tar-split metadata: gzip-compressed JSON
// lines, one storage.Entry each (the format of Docker's tar-split.json.gz,
// except that file entries carry no CRC: the sha256 of the whole stream,
// the DiffID, is checked instead).
type splitWriter struct {
	f    *os.File
	bw   *bufio.Writer
	gz   *gzip.Writer
	enc  *json.Encoder
	pos  int
	path string
}

func (s *Store) createSplit(name string) (*splitWriter, error) {
	path := s.tarPath(name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	gz, err := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &splitWriter{f: f, bw: bw, gz: gz, enc: json.NewEncoder(gz), path: path}, nil
}

func (w *splitWriter) add(e storage.Entry) error {
	e.Position = w.pos
	w.pos++
	return w.enc.Encode(&e)
}

func (w *splitWriter) segment(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return w.add(storage.Entry{Type: storage.SegmentType, Payload: b})
}

// finish flushes, fsyncs and closes the file, and fsyncs its directory.
func (w *splitWriter) finish() error {
	err := w.gz.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.path))
	}
	if err != nil {
		os.Remove(w.path)
	}
	return err
}

// abort closes and deletes the file.
func (w *splitWriter) abort() {
	w.f.Close()
	os.Remove(w.path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// splitResult is what the splitter learnt of a diff.
type splitResult struct {
	diffID DiffID
	size   int64 // bytes in the stream
	// doubt names entries whose content may not be in the driver's copy
	// as the tar gave it: replaced or deleted by a later entry, a whiteout
	// with content, a sparse file (a few, for the log).
	doubt []string
	err   error
}

// startSplit reads diff in a goroutine, hashing it and writing its
// tar-split metadata to meta, and passes every byte on to the returned pipe
// (the driver's input). The result arrives once the whole of diff has been
// read, or the pipe's reader has closed it, or something failed.
func startSplit(diff io.Reader, meta *splitWriter, written chan<- writtenFile) (*chunkPipe, <-chan splitResult) {
	p := newChunkPipe()
	done := make(chan splitResult, 1)
	go func() {
		res := split(diff, p, meta, written)
		if written != nil {
			close(written)
		}
		p.closeWrite(res.err)
		done <- res
	}()
	return p, done
}

// hashingTee passes what it reads on to a hash and a writer.
type hashingTee struct {
	r io.Reader
	h hash.Hash
	w io.Writer
	n int64
}

func (t *hashingTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.h.Write(p[:n])
		t.n += int64(n)
		if _, werr := t.w.Write(p[:n]); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func split(diff io.Reader, out io.Writer, meta *splitWriter, written chan<- writtenFile) (res splitResult) {
	tee := &hashingTee{r: diff, h: sha256.New(), w: out}
	br := bufio.NewReaderSize(tee, chunkSize)
	tr := tar.NewReader(br)
	tr.RawAccounting = true
	buf := getChunk()
	buf = buf[:cap(buf)]
	defer putChunk(buf)
	var doubts doubtTracker

	fail := func(err error) splitResult { return splitResult{err: err} }
	for {
		hdr, err := tr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return fail(err)
			}
			// The end-of-archive blocks.
			if err := meta.segment(tr.RawBytes()); err != nil {
				return fail(err)
			}
			break
		}
		if err := meta.segment(tr.RawBytes()); err != nil {
			return fail(err)
		}
		var n int64
		for {
			m, err := tr.Read(buf)
			n += int64(m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fail(err)
			}
		}
		e := storage.Entry{Type: storage.FileType, Size: n}
		e.SetName(hdr.Name)
		if err := meta.add(e); err != nil {
			return fail(err)
		}
		doubts.add(hdr, n)
		if written != nil && n >= writebackMinSize {
			select {
			case written <- writtenFile{name: cleanName(hdr.Name), end: tee.n - int64(br.Buffered())}:
			default: // only a hint
			}
		}
		if err := meta.segment(tr.RawBytes()); err != nil {
			return fail(err)
		}
	}
	// Whatever follows the tar (more zero blocks, usually) is part of the
	// diff too.
	for {
		m, err := br.Read(buf)
		if m > 0 {
			if err := meta.segment(buf[:m]); err != nil {
				return fail(err)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	return splitResult{
		diffID: DiffID(digest.NewDigest(digest.SHA256, tee.h)),
		size:   tee.n,
		doubt:  doubts.found,
	}
}

// doubtTracker spots entries whose content a later entry of the same diff
// replaces or deletes, so that reading it back from the driver's directory
// would give the later content (the extractor's rules: an entry replaces
// whatever is at its path unless both are directories; `.wh.<name>`
// deletes <name>). It is conservative the cheap way: a doubt is only a
// reason to check the reassembled stream at once.
type doubtTracker struct {
	content map[string]bool // clean names of entries with content
	dirs    map[string]bool // every directory above them
	found   []string
}

const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	maxDoubts          = 5
)

func (d *doubtTracker) doubt(name string) {
	if len(d.found) < maxDoubts {
		d.found = append(d.found, name)
	} else if len(d.found) == maxDoubts {
		d.found = append(d.found, "...")
	}
}

func (d *doubtTracker) add(hdr *tar.Header, n int64) {
	name := cleanName(hdr.Name)
	if name == "." {
		return
	}
	if d.content == nil {
		d.content, d.dirs = map[string]bool{}, map[string]bool{}
	}
	base := path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) || strings.HasPrefix(name, whiteoutMetaPrefix) {
		// Not extracted as a file: a whiteout, an opaque marker (which
		// keeps what this diff wrote), AUFS metadata.
		if n > 0 {
			d.doubt(name)
		}
		if base != whiteoutMetaPrefix+".opq" && !strings.HasPrefix(base, whiteoutMetaPrefix) {
			target := path.Join(path.Dir(name), base[len(whiteoutPrefix):])
			if d.content[target] || d.dirs[target] {
				d.doubt(target)
			}
		}
		return
	}
	if d.content[name] || (d.dirs[name] && hdr.Typeflag != tar.TypeDir) {
		d.doubt(name)
	}
	if hdr.Typeflag == tar.TypeGNUSparse || hasSparseRecords(hdr) {
		d.doubt(name)
	}
	if n > 0 {
		d.content[name] = true
		for dir := path.Dir(name); dir != "." && !d.dirs[dir]; dir = path.Dir(dir) {
			d.dirs[dir] = true
		}
	}
}

func hasSparseRecords(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// cleanName is the path, relative to the layer, that the extractor
// (github.com/moby/go-archive) writes a tar entry to.
func cleanName(name string) string {
	return path.Clean(strings.TrimLeft(name, "/"))
}

// assembler reproduces a layer's tar from its metadata, reading regular
// files' content from the directory root.
type assembler struct {
	dec  *json.Decoder
	root *os.Root

	seg  bytes.Reader // the current segment
	file *os.File     // the current file, and how much of it is left
	left int64
	name string
	err  error
}

func (a *assembler) Read(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	for {
		if a.seg.Len() > 0 {
			return a.seg.Read(p)
		}
		if a.file != nil {
			if a.left == 0 {
				a.closeFile()
				continue
			}
			if int64(len(p)) > a.left {
				p = p[:a.left]
			}
			n, err := a.file.Read(p)
			a.left -= int64(n)
			if errors.Is(err, io.EOF) && a.left > 0 {
				err = fmt.Errorf("%s is %d bytes shorter than the layer's diff says: %w", a.name, a.left, ErrDigestMismatch)
			} else if errors.Is(err, io.EOF) {
				err = nil
			}
			if err != nil {
				a.err = err
				a.closeFile()
				return n, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		var e storage.Entry
		if err := a.dec.Decode(&e); err != nil {
			if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("reading the layer's tar-split metadata: %w", err)
			}
			a.err = err
			return 0, err
		}
		switch e.Type {
		case storage.SegmentType:
			a.seg.Reset(e.Payload)
		case storage.FileType:
			if e.Size == 0 {
				continue
			}
			f, err := openInRoot(a.root, cleanName(e.GetName()))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotRegular) {
					err = fmt.Errorf("%w: %w", ErrDigestMismatch, err)
				}
				a.err = err
				return 0, err
			}
			a.file, a.left, a.name = f, e.Size, e.GetName()
		default:
			a.err = fmt.Errorf("layer tar-split metadata: unknown entry type %d", e.Type)
			return 0, a.err
		}
	}
}

func (a *assembler) closeFile() {
	if a.file != nil {
		a.file.Close()
		a.file = nil
	}
}

func (a *assembler) Close() error {
	a.closeFile()
	if a.err == nil {
		a.err = os.ErrClosed
	}
	return nil
}

// openInRoot opens a regular file the extractor wrote at name. os.Root
// follows symlinks as long as they stay inside the root; the extractor also
// resolves absolute symlinks in a path's directories as if the root were
// "/", and so does the fallback.
func openInRoot(root *os.Root, name string) (*os.File, error) {
	f, err := openRegular(root, name)
	if err == nil || errors.Is(err, errNotRegular) {
		return f, err
	}
	resolved, rerr := resolveInRoot(root, name)
	if rerr != nil || resolved == name {
		return nil, err
	}
	return openRegular(root, resolved)
}

var errNotRegular = errors.New("not a regular file")

// openRegular opens name for reading if it is a regular file, without
// opening anything else there (a FIFO would block, a device could do
// anything): a later entry of a diff may have put one where a file was.
func openRegular(root *os.Root, name string) (*os.File, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", name, errNotRegular)
	}
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, errNotRegular)
	}
	return f, nil
}

// resolveInRoot resolves the symlinks of name's directories as a chroot to
// root would: absolute targets start over at the root, ".." stops there.
func resolveInRoot(root *os.Root, name string) (string, error) {
	var resolved []string
	todo := strings.Split(name, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		p := path.Join(append(resolved, c)...)
		if len(todo) == 0 {
			resolved = append(resolved, c)
			break
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = append(resolved, c)
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", name)
		}
		target, err := root.Readlink(p)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = resolved[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(resolved) == 0 {
		return ".", nil
	}
	return path.Join(resolved...), nil
}

// verifyingReader passes a layer's diff on and fails the read that reaches
// its end if the content does not hash to the DiffID.
type verifyingReader struct {
	r       io.Reader
	close   func() error
	h       hash.Hash
	want    DiffID
	chainID ChainID
	closed  bool
}

func newVerifyingReader(r io.Reader, close func() error, l *roLayer) *verifyingReader {
	return &verifyingReader{r: r, close: close, h: sha256.New(), want: l.diffID, chainID: l.chainID}
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := digest.NewDigest(digest.SHA256, r.h); got != digest.Digest(r.want) {
			return n, fmt.Errorf("layer %s: reassembled diff hashes to %s, want %s: %w", r.chainID, got, r.want, ErrDigestMismatch)
		}
		return n, io.EOF
	}
	if err != nil {
		return n, fmt.Errorf("layer %s: reading its diff: %w", r.chainID, err)
	}
	return n, nil
}

func (r *verifyingReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.close()
}
