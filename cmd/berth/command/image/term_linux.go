package image

import "golang.org/x/sys/unix"

// fd is the file descriptor behind a stream, if it has one.
func fd(v any) (int, bool) {
	f, ok := v.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	return int(f.Fd()), true
}

func streamIsTerminal(v any) bool {
	n, ok := fd(v)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(n, unix.TCGETS)
	return err == nil
}

// streamWidth is the terminal's width in columns, 200 if it cannot tell,
// as docker assumes.
func streamWidth(v any) uint16 {
	if n, ok := fd(v); ok {
		if ws, err := unix.IoctlGetWinsize(n, unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return ws.Col
		}
	}
	return 200
}
