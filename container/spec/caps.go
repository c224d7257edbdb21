package spec

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// knownCapabilities lists the Linux capabilities by number (index = bit).
var knownCapabilities = []string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

const allCapabilities = "ALL"

// DefaultCapabilities returns Docker's default capability set for a
// non-privileged container (a new slice on every call).
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// BoundingSet returns the names of the capabilities in the calling process's
// bounding set (CapBnd in /proc/self/status), in capability-number order.
// Bits the package has no name for are left out.
func BoundingSet() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "CapBnd:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("parsing CapBnd %q: %w", v, err)
		}
		return capsFromMask(mask), nil
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
}

func capsFromMask(mask uint64) []string {
	var caps []string
	for i, name := range knownCapabilities {
		if mask&(1<<uint(i)) != 0 {
			caps = append(caps, name)
		}
	}
	return caps
}

func isKnownCap(c string) bool {
	for _, k := range knownCapabilities {
		if k == c {
			return true
		}
	}
	return false
}

// normalizeCaps upper-cases, adds the CAP_ prefix and validates a CapAdd or
// CapDrop list, as Docker's NormalizeLegacyCapabilities does.
func normalizeCaps(caps []string) ([]string, error) {
	var out []string
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == allCapabilities {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !isKnownCap(c) {
			return nil, invalidf("unknown capability: %q", c)
		}
		out = append(out, c)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tweakCapabilities applies Docker's rules (oci/caps.TweakCapabilities) to
// the default set and then keeps only what is in the bounding set, so that the
// runtime never asks for a capability the daemon cannot grant.
//
//   - privileged: every capability of the bounding set (CapAdd/CapDrop ignored);
//   - CapAdd contains ALL: every capability except those in CapDrop;
//   - CapDrop contains ALL: exactly CapAdd;
//   - otherwise: defaults minus CapDrop, plus CapAdd.
func tweakCapabilities(adds, drops []string, privileged bool, bounding []string) ([]string, error) {
	if privileged {
		return filterCaps(bounding, bounding), nil
	}
	basics := DefaultCapabilities()
	if len(adds) == 0 && len(drops) == 0 {
		return filterCaps(basics, bounding), nil
	}
	capDrop, err := normalizeCaps(drops)
	if err != nil {
		return nil, err
	}
	capAdd, err := normalizeCaps(adds)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case contains(capAdd, allCapabilities):
		for _, c := range knownCapabilities {
			if !contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
	case contains(capDrop, allCapabilities):
		caps = capAdd
	default:
		for _, c := range basics {
			if !contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, capAdd...)
	}
	return filterCaps(caps, bounding), nil
}

// filterCaps keeps the known capabilities of caps that are in bounding,
// without duplicates, in the order of caps. The result is never nil.
func filterCaps(caps, bounding []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		if c == allCapabilities || !isKnownCap(c) || !contains(bounding, c) || contains(out, c) {
			continue
		}
		out = append(out, c)
	}
	return out
}
