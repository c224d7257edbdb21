package distribution

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe makes the pipe of f hold 1 MiB, the most an unprivileged
// process may ask for by default, rather than 64 KiB: fewer, larger reads
// and writes on both sides. It is only an optimization.
func growPipe(f *os.File) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
	}
}
