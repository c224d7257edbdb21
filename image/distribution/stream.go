package distribution

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"
	"time"

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

// decompressed is a layer blob's content, its compression detected by magic
// number (gzip, zstd, or none) rather than trusted from a media type.
type decompressed struct {
	io.Reader
	close func()
}

func (d *decompressed) Close() error {
	if d.close != nil {
		d.close()
		d.close = nil
	}
	return nil
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
var errUnsupportedCompression = errors.New("unsupported layer compression (only gzip, zstd and uncompressed tars are supported)")

func decompress(r io.Reader) (*decompressed, error) {
	br := bufio.NewReaderSize(r, bufSize)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case hasPrefix(magic, gzipMagic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return &decompressed{Reader: gz, close: func() { gz.Close() }}, nil
	case hasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, err
		}
		return &decompressed{Reader: zr, close: zr.Close}, nil
	case hasPrefix(magic, []byte("BZh")), hasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, errUnsupportedCompression
	}
	return &decompressed{Reader: br}, nil
}
