package distribution

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bufSize is the size of the buffers data is streamed through.
const bufSize = 1 << 20

// reporter serializes progress reports from several goroutines.
type reporter struct {
	mu sync.Mutex
	fn func(Progress)
}

func (r *reporter) report(p Progress) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(p)
}

func (r *reporter) status(id, action string) { r.report(Progress{ID: id, Action: action}) }

// progressReader counts the bytes read through it and reports them as
// action on id, at most every progressEvery bytes and progressInterval, and
// on demand (flush).
type progressReader struct {
	ctx      context.Context
	r        io.Reader
	rep      *reporter
	id       string
	action   string
	n, total int64
	lastN    int64
	lastTime time.Time
	// quiet, if set, holds reports back while it returns true.
	quiet func() bool
}

const (
	progressEvery    = 512 << 10
	progressInterval = 100 * time.Millisecond
)

func newProgressReader(ctx context.Context, r io.Reader, rep *reporter, id, action string, total int64) *progressReader {
	return &progressReader{ctx: ctx, r: r, rep: rep, id: id, action: action, total: total}
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.lastN >= progressEvery && (p.quiet == nil || !p.quiet()) {
		if now := time.Now(); now.Sub(p.lastTime) >= progressInterval {
			p.lastN, p.lastTime = p.n, now
			p.rep.report(Progress{ID: p.id, Action: p.action, Current: p.n, Total: p.total})
		}
	}
	return n, err
}

// flush reports the count now.
func (p *progressReader) flush() {
	p.lastN, p.lastTime = p.n, time.Now()
	p.rep.report(Progress{ID: p.id, Action: p.action, Current: p.n, Total: p.total})
}

// asyncReader reads its source in a goroutine of its own, up to depth
// buffers ahead of its reader: a pipeline stage, unlike io.Pipe's lockstep.
type asyncReader struct {
	ch     chan []byte
	free   chan []byte
	stop   chan struct{}
	exited chan struct{}
	once   sync.Once
	err    error // the source's, set before ch is closed
	buf    []byte
	cur    []byte
}

func newAsyncReader(src io.Reader, depth, size int) *asyncReader {
	a := &asyncReader{
		ch: make(chan []byte, depth), free: make(chan []byte, depth+1),
		stop: make(chan struct{}), exited: make(chan struct{}),
	}
	for range depth + 1 {
		a.free <- make([]byte, size)
	}
	go func() {
		defer close(a.exited)
		for {
			var b []byte
			select {
			case b = <-a.free:
			case <-a.stop:
				return
			}
			n, err := io.ReadFull(src, b[:cap(b)])
			if n > 0 {
				select {
				case a.ch <- b[:n]:
				case <-a.stop:
					return
				}
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				a.err = err
				close(a.ch)
				return
			}
		}
	}()
	return a
}

func (a *asyncReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		b, ok := <-a.ch
		if !ok {
			return 0, a.err
		}
		a.buf, a.cur = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it. Its source must not block
// forever (a follower stops with its context).
func (a *asyncReader) Close() error {
	a.once.Do(func() { close(a.stop) })
	<-a.exited
	return nil
}

// blobStream hands a blob from its download to its registration through a
// few buffers instead of a temporary file: the layer registered first is
// extracted as it downloads anyway, and so skips writing the blob to disk,
// reading it back and deleting it. The download blocks while the buffers
// are full (TCP holds the rest), until the pull's context ends.
type blobStream struct {
	ctx  context.Context
	ch   chan []byte // filled chunks; closed once the blob is checked
	free chan []byte
	wbuf []byte // writer side: the chunk being filled
	rbuf []byte // reader side: the chunk being read, and what is left of it
	rcur []byte
}

const (
	streamChunk = 256 << 10
	streamDepth = 8
)

func newBlobStream(ctx context.Context) *blobStream {
	s := &blobStream{ctx: ctx, ch: make(chan []byte, streamDepth), free: make(chan []byte, streamDepth)}
	for range streamDepth {
		s.free <- make([]byte, 0, streamChunk)
	}
	return s
}

func (s *blobStream) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if s.wbuf == nil {
			select {
			case s.wbuf = <-s.free:
			case <-s.ctx.Done():
				return n, s.ctx.Err()
			}
		}
		c := copy(s.wbuf[len(s.wbuf):cap(s.wbuf)], p)
		s.wbuf = s.wbuf[:len(s.wbuf)+c]
		p, n = p[c:], n+c
		if len(s.wbuf) == cap(s.wbuf) {
			s.ch <- s.wbuf // never blocks: there are streamDepth chunks in all
			s.wbuf = nil
		}
	}
	return n, nil
}

// closeWrite passes the last chunk on and ends the stream: the reader gets
// io.EOF. Only a download whose blob checked out calls it.
func (s *blobStream) closeWrite() {
	if len(s.wbuf) > 0 {
		s.ch <- s.wbuf
		s.wbuf = nil
	}
	close(s.ch)
}

// streamReader reads a streamed download: io.EOF once it is complete and
// checked, its error if it failed, ctx's when that ends first.
type streamReader struct {
	ctx context.Context
	d   *download
}

func (r *streamReader) Read(p []byte) (int, error) {
	s := r.d.stream
	for len(s.rcur) == 0 {
		if s.rbuf != nil {
			s.free <- s.rbuf[:0] // never blocks, as above
			s.rbuf = nil
		}
		var c []byte
		var ok bool
		select {
		case c, ok = <-s.ch:
		case <-r.d.done:
			if r.d.err != nil {
				return 0, r.d.err
			}
			c, ok = <-s.ch // closed by now, maybe with chunks left: does not block
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
		if !ok {
			return 0, io.EOF
		}
		s.rbuf, s.rcur = c, c
	}
	n := copy(p, s.rcur)
	s.rcur = s.rcur[n:]
	return n, nil
}

// decompressed is a layer blob's content, its compression detected by magic
// number (gzip, zstd, or none) rather than trusted from a media type. Its
// errors are the blob's own (a failed download, a cancelled pull) as they
// are, and the decoder's (corrupt data) as invalid arguments.
type decompressed struct {
	dec   io.Reader
	src   *sourceReader
	close func()
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if err != nil && err != io.EOF {
		err = d.classify(err)
	}
	return n, err
}

// classify words an error of the decoder.
func (d *decompressed) classify(err error) error {
	if serr := d.src.failed(); serr != nil {
		return serr
	}
	var ce classed
	if errors.As(err, &ce) {
		return err
	}
	return classed{base: errdefs.ErrInvalidArgument, msg: "invalid compressed data: " + err.Error(), cause: err}
}

func (d *decompressed) Close() error {
	if d.close != nil {
		d.close()
		d.close = nil
	}
	return nil
}

// sourceReader remembers the first error of a blob's reader other than
// io.EOF, to tell the blob's failure from the decoder's. An external
// decoder's feeder reads it while the decoder's reader asks.
type sourceReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *sourceReader) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// errUnsupportedCompression is a blob compressed some other way (bzip2,
// xz), which no registry manifest type describes.
var errUnsupportedCompression error = classed{base: errdefs.ErrInvalidArgument, msg: "unsupported layer compression (only gzip, zstd and uncompressed tars are supported)"}

// decompress returns the content of the blob r. A gzip blob is inflated by
// gzipCommand (see FindGzipCommand) when it is set, in a process that ends
// with ctx or Close, else in process.
func decompress(ctx context.Context, r io.Reader, gzipCommand string) (*decompressed, error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, bufSize)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	d := &decompressed{src: src}
	switch {
	case hasPrefix(magic, gzipMagic) && gzipCommand != "":
		p, err := startGunzip(ctx, gzipCommand, br, src)
		if err != nil {
			return nil, err
		}
		d.dec, d.close = p, func() { p.Close() }
	case hasPrefix(magic, gzipMagic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, d.classify(err)
		}
		d.dec, d.close = gz, func() { gz.Close() }
	case hasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, err
		}
		d.dec, d.close = zr, zr.Close
	case hasPrefix(magic, []byte("BZh")), hasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, errUnsupportedCompression
	default:
		d.dec = br
	}
	return d, nil
}
