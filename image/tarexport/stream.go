package tarexport

import (
	"bufio"
	"compress/bzip2"
	"context"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/go-archive/compression"
)

// bufSize is the size of the buffers data is streamed through.
const bufSize = 1 << 20

// inputReader wraps the reader of untrusted input. It stops with the context, and it records
// the first error its source returned other than io.EOF, so that a failure further on can be
// told apart: an input error (a truncated or corrupt archive: invalid argument) or a failure
// of whatever consumed the data (a full disk: passed on as is).
type inputReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (r *inputReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		if r.err == nil {
			r.err = err
		}
		return 0, err
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// failed returns the input's own error, if it had one.
func (r *inputReader) failed() error { return r.err }

// decompressed is the decompressed form of a stream whose compression was detected by magic.
type decompressed struct {
	io.Reader
	br         *bufio.Reader // over the compressed source
	compressed bool
	close      func()
}

func (d *decompressed) Close() error {
	if d.close != nil {
		d.close()
		d.close = nil
	}
	return nil
}

// drainSource reads what is left of the compressed source (after the end of the compressed
// data, a decompressor may not have read all of it), so that whatever watches the source
// (a digest) has seen all of it.
func (d *decompressed) drainSource() error {
	_, err := io.Copy(io.Discard, d.br)
	return err
}

// decompress detects the compression of r (gzip, zstd, bzip2, xz or none) by its magic
// number and returns the decompressed stream. xz goes through the xz binary.
func decompress(r io.Reader) (*decompressed, error) {
	br := bufio.NewReaderSize(r, bufSize)
	magic, err := br.Peek(10)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	d := &decompressed{br: br, compressed: true}
	switch compression.Detect(magic) {
	case compression.Gzip:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		d.Reader = gz
		d.close = func() { gz.Close() }
	case compression.Zstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		d.Reader = zr
		d.close = zr.Close
	case compression.Bzip2:
		d.Reader = bzip2.NewReader(br)
	case compression.Xz:
		xr, err := compression.DecompressStream(br)
		if err != nil {
			return nil, err
		}
		d.Reader = xr
		d.close = func() { xr.Close() }
	default:
		d.Reader = br
		d.compressed = false
	}
	return d, nil
}

// readFull reads all of r, failing if it holds more than limit bytes.
func readFull(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

var errTooLarge = errors.New("file too large")
