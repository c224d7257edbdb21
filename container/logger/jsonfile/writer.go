package jsonfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

const (
	// maxLineSize is the size at which an unterminated line is flushed as its
	// own (partial) entry, as Docker's log copier does.
	maxLineSize = 16 * 1024
	// flushThreshold bounds the writer's encode buffer: once this many bytes
	// of whole entries are pending they are written out.
	flushThreshold = 64 * 1024
	filePerm       = 0o640
)

var errClosed = errors.New("jsonfile: log writer closed")

// Writer appends entries to a json-file log, rotating it according to its
// WriterOptions. All methods are safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File // nil after a failed rotation/reopen or Close
	size     int64
	buf      []byte // encoded whole entries not yet written
	streams  map[*streamWriter]struct{}
	closed   bool
	err      error // first write error, kept for Close
}

// NewWriter opens (creating if needed) the log at path for appending; an
// existing log, and its rotated files, are kept.
func NewWriter(path string, o WriterOptions) (*Writer, error) {
	if o.MaxFiles < 0 {
		return nil, errors.New("max-file cannot be less than 1")
	}
	w := &Writer{
		path:     path,
		maxSize:  o.MaxSize,
		maxFiles: max(o.MaxFiles, 1),
		streams:  make(map[*streamWriter]struct{}),
	}
	if err := w.open(false); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open(trunc bool) error {
	flags := os.O_WRONLY | os.O_APPEND | os.O_CREATE
	if trunc {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(w.path, flags, filePerm)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	return nil
}

// StreamWriter returns a line-splitting writer for one stream ("stdout" or
// "stderr"). Every '\n'-terminated line becomes one entry; an unterminated
// line is emitted as its own entry (without '\n') once it reaches 16 KiB or
// when the stream writer (or the Writer) is closed.
//
// Write errors from the underlying file (e.g. a full disk) are not returned:
// the affected entries are dropped, as Docker does, so that a container is
// never blocked by its log. Write after Close returns an error.
func (w *Writer) StreamWriter(stream string) io.WriteCloser {
	sw := &streamWriter{w: w, stream: stream}
	w.mu.Lock()
	if !w.closed {
		w.streams[sw] = struct{}{}
	}
	w.mu.Unlock()
	return sw
}

// Close flushes unterminated lines of all stream writers and closes the log.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	now := time.Now()
	for sw := range w.streams {
		sw.flushPartial(now)
		sw.closed = true
	}
	w.streams = nil
	w.flush()
	w.closed = true
	err := w.err
	if w.f != nil {
		if cerr := w.f.Close(); err == nil {
			err = cerr
		}
		w.f = nil
	}
	return err
}

// addEntry encodes one entry into the pending buffer, rotating first when
// the current file is full. Called with w.mu held.
func (w *Writer) addEntry(line []byte, stream string, t time.Time) {
	if w.maxSize > 0 && w.size+int64(len(w.buf)) >= w.maxSize {
		w.flush()
		w.rotate()
	}
	w.buf = appendEntry(w.buf, line, stream, t)
	if len(w.buf) >= flushThreshold {
		w.flush()
	}
}

// flush writes the pending whole entries with a single write(2). Called with
// w.mu held.
func (w *Writer) flush() {
	if len(w.buf) == 0 {
		return
	}
	if w.f == nil && !w.closed {
		// A previous rotation failed to create the file: retry.
		if err := w.open(false); err != nil {
			w.setErr(err)
		}
	}
	if w.f != nil {
		n, err := w.f.Write(w.buf)
		w.size += int64(n)
		if err != nil {
			w.setErr(err)
			if n > 0 && n < len(w.buf) {
				// Terminate the torn entry so that later ones parse.
				if m, err := w.f.Write([]byte{'\n'}); err == nil {
					w.size += int64(m)
				}
			}
		}
	}
	if cap(w.buf) > 4*flushThreshold {
		w.buf = nil // do not keep a buffer grown by a huge write
	} else {
		w.buf = w.buf[:0]
	}
}

func (w *Writer) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// rotate shifts <path> -> <path>.1 -> ... -> <path>.<MaxFiles-1> (dropping
// the oldest) and starts a new empty <path>. With MaxFiles == 1 the current
// file is replaced by a new one. The old file is closed before it is renamed,
// so a reader that observes the rename has all of its content available.
// Called with w.mu held.
func (w *Writer) rotate() {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.setErr(err)
		}
		w.f = nil
	}
	if w.maxFiles > 1 {
		last := w.path + "." + strconv.Itoa(w.maxFiles-1)
		if err := os.Remove(last); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.setErr(err)
		}
		for i := w.maxFiles - 1; i > 1; i-- {
			err := os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				w.setErr(err)
			}
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.setErr(err)
		}
	} else {
		// Replace rather than truncate in place, so that followers reading
		// the old file can tell the difference (new inode).
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.setErr(err)
		}
	}
	// O_TRUNC: if the rename above failed we must still start a fresh file.
	if err := w.open(true); err != nil {
		w.setErr(err)
	}
}

type streamWriter struct {
	w       *Writer
	stream  string
	pending []byte // unterminated line, len < maxLineSize
	closed  bool
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	w := sw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if sw.closed || w.closed {
		return 0, errClosed
	}
	n := len(p)
	var now time.Time
	for len(p) > 0 {
		room := maxLineSize - len(sw.pending)
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		end := bytes.IndexByte(chunk, '\n') + 1
		if end == 0 {
			if len(chunk) < room {
				sw.pending = append(sw.pending, chunk...)
				break
			}
			end = room // partial line reached maxLineSize
		}
		if now.IsZero() {
			now = time.Now()
		}
		if len(sw.pending) > 0 {
			sw.pending = append(sw.pending, chunk[:end]...)
			w.addEntry(sw.pending, sw.stream, now)
			sw.pending = sw.pending[:0]
		} else {
			w.addEntry(chunk[:end], sw.stream, now)
		}
		p = p[end:]
	}
	w.flush()
	return n, nil
}

// flushPartial emits the unterminated line, if any. Called with w.mu held.
func (sw *streamWriter) flushPartial(now time.Time) {
	if len(sw.pending) > 0 {
		sw.w.addEntry(sw.pending, sw.stream, now)
		sw.pending = nil
	}
}

// Close emits the pending unterminated line, if any.
func (sw *streamWriter) Close() error {
	w := sw.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if sw.closed || w.closed {
		sw.closed = true
		return nil
	}
	sw.closed = true
	sw.flushPartial(time.Now())
	w.flush()
	delete(w.streams, sw)
	return nil
}
