package layer

// Early writeback of a layer's large files.
//
// The driver's extraction only fills the page cache; the data reaches the disk when the kernel
// gets round to it, or when someone syncs. While a large diff is applied the disk would sit
// idle and then have all of it to write at the end. So as the driver finishes each large
// regular file, Register asks the kernel to start writing it out (sync_file_range
// SYNC_FILE_RANGE_WRITE: asynchronous, no waiting for the I/O, no durability promise), and the
// disk works while the CPU extracts the rest. It is only a hint: a file it misses is written
// back as any other.
//
// It pays off when the layer is synced soon after (`docker load` then sync). Otherwise it costs:
// the fsyncs that commit the layer make the device persist everything written back so far, where
// without it they persist little. Nobody syncs a pulled layer: its diff opts out (see
// earlyWriteback).

import (
	"io"
	"os"
)

// writebackOptOut is a diff that says whether early writeback pays off for its layer.
type writebackOptOut interface {
	EarlyWriteback() bool
}

// earlyWriteback reports whether Register should start writeback of diff's large files as it
// applies them: unless diff says otherwise.
func earlyWriteback(diff io.Reader) bool {
	if o, ok := diff.(writebackOptOut); ok {
		return o.EarlyWriteback()
	}
	return true
}

// writebackMinSize is the smallest file worth starting writeback for by itself.
const writebackMinSize = 128 << 10

// writebackLag is how far past a file's end in the diff the driver must have read before the
// file is taken as written (the drivers read through a 128 KiB buffer).
const writebackLag = 256 << 10

// writtenFile is a regular file of the diff: its path in the layer and where its content ends
// in the diff stream.
type writtenFile struct {
	name string
	end  int64
}

// startWriteback starts writeback of the files it is told of in the layer directory dir, each
// once the driver has read past its end in pipe. applied is closed when the driver has applied
// the whole diff; if the pipe is closed without it, the rest is skipped. The returned channel
// is closed once files is closed and everything is done.
func startWriteback(dir string, pipe *chunkPipe, files <-chan writtenFile, applied <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var root *os.Root
		if dir != "" {
			root, _ = os.OpenRoot(dir)
		}
		if root == nil {
			for range files {
			}
			return
		}
		defer root.Close()
		stopped := false
		for f := range files {
			if stopped {
				continue
			}
		wait:
			for pipe.consumed.Load() < f.end+writebackLag {
				select {
				case <-pipe.progress:
				case <-applied:
					break wait
				case <-pipe.done:
					// The driver stopped: done, or failed.
					select {
					case <-applied:
					default:
						stopped = true
					}
					break wait
				}
			}
			if !stopped {
				writeback(root, f.name)
			}
		}
	}()
	return done
}

func writeback(root *os.Root, name string) {
	f, err := openRegular(root, name)
	if err != nil {
		return
	}
	startWriteOut(f)
	f.Close()
}
