package layer

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteOut starts writing f's dirty pages to disk, without waiting.
func startWriteOut(f *os.File) {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
