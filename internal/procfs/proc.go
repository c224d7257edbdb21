// Package procfs reads facts about processes from /proc.
package procfs

import (
	"bytes"
	"os"
	"strconv"
)

// Alive reports whether process pid exists and has not exited. A zombie
// (exited, not yet reaped: a killed berthd or shim until its parent waits
// for it, which may be late when PID 1 is not systemd) and a process being
// torn down are not alive.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) state ...": comm may hold anything but ends at the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}
