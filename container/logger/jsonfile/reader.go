package jsonfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"time"
)

// Entry is one decoded log entry.
type Entry struct {
	Line   []byte // as logged, with its trailing '\n' if it had one; not reused
	Stream string // "stdout" or "stderr"
	Time   time.Time
}

// ReadOptions selects the entries Read delivers.
type ReadOptions struct {
	// Since and Until, when non-zero, bound entries by time (inclusive).
	// Entries before Since are skipped; the first entry after Until ends the
	// read (and a follow ends once Until has passed).
	Since, Until time.Time
	// Tail is the number of most recent entries (across rotated files) to
	// start from; -1 (any negative) means all. As in Docker, Tail selects
	// the last lines first and Since/Until then filter them.
	Tail int
	// Follow keeps reading new entries until the context is done or the
	// container stopped (see Read).
	Follow bool
}

var (
	// pollMin/pollMax bound the follow polling interval: short after data
	// was seen, backing off while idle.
	pollMin = 10 * time.Millisecond
	pollMax = 150 * time.Millisecond
)

const (
	readBufSize = 64 * 1024
	// maxReadLine bounds memory for a corrupt/foreign file with absurdly long
	// lines (ours are at most ~6*16 KiB); longer lines are skipped.
	maxReadLine = 8 << 20
	tailChunk   = 32 * 1024
)

// Read calls fn for each entry of the log at path, oldest first, across
// rotated files. See ReadOptions. With o.Follow it keeps delivering new
// entries, following rotations, until ctx is done (returns ctx.Err()), Until
// has passed, or stopped is closed and everything written before that has
// been delivered (returns nil). An error from fn ends the read and is
// returned. A missing log is treated as empty (and waited for when
// following). Malformed lines are skipped; an incomplete last line is
// waited for when following and ignored otherwise.
func Read(ctx context.Context, path string, o ReadOptions, stopped <-chan struct{}, fn func(Entry) error) error {
	r := &reader{ctx: ctx, path: path, o: o, fn: fn}
	return r.run(stopped)
}

type openFile struct {
	f  *os.File
	fi os.FileInfo
}

type reader struct {
	ctx   context.Context
	path  string
	o     ReadOptions
	fn    func(Entry) error
	lr    lineReader
	count int
	done  bool // Until exceeded
}

var errUntil = errors.New("until reached")

func (r *reader) run(stopped <-chan struct{}) error {
	files, err := snapshot(r.path)
	if err != nil {
		return err
	}
	var cur *openFile
	defer func() {
		closeFiles(files)
		if cur != nil && cur.f != nil {
			cur.f.Close()
		}
	}()

	start, off := 0, int64(0)
	if r.o.Tail >= 0 && len(files) > 0 {
		start, off, err = tailStart(files, r.o.Tail)
		if err != nil {
			return err
		}
	}
	for i := range files {
		if i < start {
			files[i].f.Close()
			files[i].f = nil
			continue
		}
		if i == start && off > 0 {
			if _, err := files[i].f.Seek(off, io.SeekStart); err != nil {
				return err
			}
		}
		if cur != nil {
			// cur is an older, rotated (final) file: read it completely.
			if err := r.readAll(); err != nil {
				return r.result(err)
			}
			cur.f.Close()
			cur.f = nil
		}
		cur = &files[i]
		r.lr.reset(cur.f)
	}
	if cur != nil {
		if err := r.readAll(); err != nil {
			return r.result(err)
		}
	}
	if !r.o.Follow {
		return nil
	}

	final := false
	wait := pollMin
	for {
		progressed := false
		if cur != nil {
			n := r.count
			if err := r.readAll(); err != nil {
				return r.result(err)
			}
			progressed = r.count != n
		}
		// At EOF of cur: has the log moved on to a newer file?
		next, err := r.nextFiles(cur)
		if err != nil {
			return err
		}
		if next != nil {
			if cur != nil {
				// The writer closed cur before renaming it: drain it.
				if err := r.readAll(); err != nil {
					closeFiles(next)
					return r.result(err)
				}
				cur.f.Close()
				cur.f = nil
			}
			for i := range next {
				r.lr.reset(next[i].f)
				if i < len(next)-1 {
					if err := r.readAll(); err != nil {
						closeFiles(next[i:])
						return r.result(err)
					}
					next[i].f.Close()
					next[i].f = nil
				}
			}
			cur = &next[len(next)-1]
			wait = pollMin
			continue
		}
		if final {
			return nil
		}
		if progressed {
			wait = pollMin
		}
		if !r.o.Until.IsZero() && !time.Now().Before(r.o.Until) {
			final = true
			continue
		}
		select {
		case <-stopped:
			final = true
			continue
		default:
		}
		timer := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			timer.Stop()
			return r.ctx.Err()
		case <-stopped:
			final = true
		case <-timer.C:
		}
		timer.Stop()
		wait = min(wait*2, pollMax)
	}
}

func (r *reader) result(err error) error {
	if err == errUntil {
		return nil
	}
	return err
}

// readAll delivers all complete lines currently available from r.lr.
func (r *reader) readAll() error {
	for {
		line, ok, err := r.lr.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		r.count++
		if r.count&255 == 0 {
			if err := r.ctx.Err(); err != nil {
				return err
			}
		}
		e, ok := decodeEntry(line)
		if !ok {
			continue
		}
		if !r.o.Since.IsZero() && e.Time.Before(r.o.Since) {
			continue
		}
		if !r.o.Until.IsZero() && e.Time.After(r.o.Until) {
			return errUntil
		}
		if err := r.fn(e); err != nil {
			return err
		}
	}
}

// nextFiles returns the files that follow cur in the log (oldest first, the
// last one being the current log file) if cur is no longer the current log
// file, or nil if it still is (or the new file does not exist yet).
func (r *reader) nextFiles(cur *openFile) ([]openFile, error) {
	st, err := os.Stat(r.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil // mid-rotation, or not created yet
		}
		return nil, err
	}
	if cur != nil && os.SameFile(st, cur.fi) {
		return nil, nil
	}
	files, err := snapshot(r.path)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, nil
	}
	if cur != nil {
		for i := range files {
			if os.SameFile(files[i].fi, cur.fi) {
				files[i].f.Close()
				closeFiles(files[:i])
				files = files[i+1:]
				break
			}
		}
		// If cur is not among them it was deleted by rotation (MaxFiles 1,
		// or the reader fell behind): every remaining file is newer.
	}
	if len(files) == 0 {
		return nil, nil
	}
	return files, nil
}

func closeFiles(files []openFile) {
	for _, f := range files {
		if f.f != nil {
			f.f.Close()
		}
	}
}

func rotatedName(path string, i int) string { return path + "." + strconv.Itoa(i) }

// snapshot opens the log's files, oldest first (<path>.N ... <path>.1,
// <path>), retrying until the set is consistent (no rotation happened while
// opening them). Holding the descriptors keeps every inode alive, so inode
// identity is a reliable file identity afterwards.
func snapshot(path string) ([]openFile, error) {
	var files []openFile
	for attempt := 0; ; attempt++ {
		files = files[:0]
		var names []string
		var err error
		for i := 1; ; i++ {
			name := rotatedName(path, i)
			f, ferr := os.Open(name)
			if ferr != nil {
				if !errors.Is(ferr, os.ErrNotExist) {
					err = ferr
				}
				break
			}
			files = append(files, openFile{f: f})
			names = append(names, name)
		}
		if err == nil {
			f, ferr := os.Open(path)
			if ferr == nil {
				files = append(files, openFile{f: f})
				names = append(names, path)
			} else if !errors.Is(ferr, os.ErrNotExist) {
				err = ferr
			}
		}
		consistent := err == nil
		for i := range files {
			if !consistent {
				break
			}
			files[i].fi, err = files[i].f.Stat()
			if err != nil {
				consistent = false
				break
			}
			st, serr := os.Stat(names[i])
			if serr != nil || !os.SameFile(st, files[i].fi) {
				consistent = false
			}
		}
		if consistent {
			// The first missing rotated name must still be missing.
			nrot := len(names)
			if hasCurrent(names, path) {
				nrot--
			}
			if _, serr := os.Stat(rotatedName(path, nrot+1)); serr == nil {
				consistent = false
			}
			if !hasCurrent(names, path) {
				if _, serr := os.Stat(path); serr == nil {
					consistent = false
				}
			}
		}
		if consistent || (err == nil && attempt >= 50) {
			// Reverse the rotated files: oldest first, current last.
			nrot := len(files)
			if hasCurrent(names, path) {
				nrot--
			}
			for i, j := 0, nrot-1; i < j; i, j = i+1, j-1 {
				files[i], files[j] = files[j], files[i]
			}
			return files, nil
		}
		closeFiles(files)
		if err != nil && attempt >= 50 {
			return nil, err
		}
		time.Sleep(time.Millisecond)
	}
}

func hasCurrent(names []string, path string) bool {
	return len(names) > 0 && names[len(names)-1] == path
}

// tailStart finds where the last n complete lines across files begin,
// reading backwards in chunks. An incomplete trailing line is not counted.
func tailStart(files []openFile, n int) (int, int64, error) {
	buf := make([]byte, tailChunk)
	need := n
	for j := len(files) - 1; j >= 0; j-- {
		end := files[j].fi.Size()
		cnt := 0
		for end > 0 {
			sz := min(int64(len(buf)), end)
			pos := end - sz
			chunk := buf[:sz]
			if _, err := files[j].f.ReadAt(chunk, pos); err != nil && err != io.EOF {
				return 0, 0, err
			}
			for {
				i := bytes.LastIndexByte(chunk, '\n')
				if i < 0 {
					break
				}
				cnt++
				if cnt == need+1 {
					return j, pos + int64(i) + 1, nil
				}
				chunk = chunk[:i]
			}
			end = pos
		}
		if cnt >= need {
			return j, 0, nil
		}
		need -= cnt
	}
	return 0, 0, nil
}

// lineReader reads '\n'-terminated lines from a file that may still be
// growing, keeping an incomplete last line until the rest arrives.
type lineReader struct {
	f        *os.File
	buf      []byte
	r, w     int // unread data is buf[r:w]
	scan     int // buf[r:scan] contains no '\n'
	skipping bool
}

func (lr *lineReader) reset(f *os.File) {
	lr.f = f
	lr.r, lr.w, lr.scan, lr.skipping = 0, 0, 0, false
	if lr.buf == nil {
		lr.buf = make([]byte, readBufSize)
	}
}

// next returns the next complete line without its '\n' (valid until the next
// call), or ok=false when no complete line is available yet.
func (lr *lineReader) next() (line []byte, ok bool, err error) {
	if lr.f == nil {
		return nil, false, nil
	}
	for {
		if i := bytes.IndexByte(lr.buf[lr.scan:lr.w], '\n'); i >= 0 {
			end := lr.scan + i
			line = lr.buf[lr.r:end]
			lr.r, lr.scan = end+1, end+1
			if lr.skipping {
				lr.skipping = false
				continue
			}
			return line, true, nil
		}
		lr.scan = lr.w
		if lr.r == lr.w {
			lr.r, lr.w, lr.scan = 0, 0, 0
		} else if len(lr.buf)-lr.w < 4096 && lr.r > 0 {
			n := copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.scan -= lr.r
			lr.r, lr.w = 0, n
		}
		if lr.w == len(lr.buf) {
			if len(lr.buf) >= maxReadLine {
				lr.skipping = true // drop the rest of this overlong line
				lr.r, lr.w, lr.scan = 0, 0, 0
			} else {
				nb := make([]byte, 2*len(lr.buf))
				copy(nb, lr.buf[:lr.w])
				lr.buf = nb
			}
		}
		n, err := lr.f.Read(lr.buf[lr.w:])
		lr.w += n
		if n == 0 {
			if err == nil || err == io.EOF {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
}
