//go:build linux && cgo

package server

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The shim lives as long as its container but is idle nearly all that
// time. Once it has been idle for trimDelay it gives back what the busy part
// touched: the free heap (debug.FreeOSMemory), and the page-table entries
// of its read-only file mappings (the binary's text and rodata, libc's):
// the kernel's fault-around maps most of a freshly started binary although
// an idle shim needs a few pages of it. Those pages stay in the page cache,
// shared by all shims, and fault back in cheaply when used. It also keeps
// the heap small from then on (GOGC 25): set any sooner, at the end of the
// create, the lower goal started a collection while the daemon's next
// requests (attach, start) were waiting on the shim.
const trimDelay = 500 * time.Millisecond

type trimmer struct {
	mu    sync.Mutex
	timer *time.Timer
}

// touch (re)arms the trim after activity.
func (t *trimmer) touch() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		t.timer = time.AfterFunc(trimDelay, trim)
		return
	}
	t.timer.Reset(trimDelay)
}

func trim() {
	debug.SetGCPercent(25)
	debug.FreeOSMemory()
	trimFileMappings()
}

// trimFileMappings drops this process's page-table entries of read-only,
// file-backed mappings that hold no private (anonymous, COW) pages:
// MADV_DONTNEED on them loses nothing, the next access re-maps the page
// from the page cache. Writable mappings and those with anonymous pages
// (RELRO, data) are left alone.
func trimFileMappings() {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	type mapping struct {
		start, end uintptr
		ok         bool
	}
	var cur mapping
	var todo []mapping
	flush := func() {
		if cur.ok {
			todo = append(todo, cur)
		}
		cur = mapping{}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if c := line[0]; (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			if i := bytes.IndexByte(line, '-'); i > 0 && i < 17 && bytes.IndexByte(line[:i], ' ') < 0 {
				flush()
				fields := bytes.Fields(line)
				if len(fields) < 6 {
					continue // anonymous mapping
				}
				perms, path := fields[1], fields[5]
				if len(perms) < 4 || perms[1] == 'w' || perms[3] != 'p' || path[0] != '/' {
					continue
				}
				start, err1 := strconv.ParseUint(string(line[:i]), 16, 64)
				end, err2 := strconv.ParseUint(string(fields[0][i+1:]), 16, 64)
				if err1 != nil || err2 != nil {
					continue
				}
				cur = mapping{start: uintptr(start), end: uintptr(end), ok: true}
				continue
			}
		}
		if !cur.ok {
			continue
		}
		if v, found := bytes.CutPrefix(line, []byte("Anonymous:")); found {
			if n, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB"))))); n != 0 {
				cur.ok = false
			}
		} else if v, found := bytes.CutPrefix(line, []byte("Rss:")); found {
			if n, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB"))))); n == 0 {
				cur.ok = false
			}
		}
	}
	flush()
	for _, m := range todo {
		unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
	}
}
