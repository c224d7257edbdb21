//go:build linux && cgo

package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/capability"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// newProcess builds the libcontainer process of an OCI process: specconv
// does not carry spec.Process over.
func newProcess(sp *specs.Process, init bool) (*libcontainer.Process, error) {
	p := &libcontainer.Process{
		Args:     sp.Args,
		Env:      sp.Env,
		Cwd:      sp.Cwd,
		UID:      int(sp.User.UID),
		GID:      int(sp.User.GID),
		Init:     init,
		LogLevel: strconv.Itoa(int(logrus.GetLevel())),
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	for _, g := range sp.User.AdditionalGids {
		p.AdditionalGroups = append(p.AdditionalGroups, int(g))
	}
	nnp := sp.NoNewPrivileges
	p.NoNewPrivileges = &nnp
	if sp.Capabilities != nil {
		p.Capabilities = filterCaps(&configs.Capabilities{
			Bounding:    sp.Capabilities.Bounding,
			Effective:   sp.Capabilities.Effective,
			Permitted:   sp.Capabilities.Permitted,
			Inheritable: sp.Capabilities.Inheritable,
			Ambient:     sp.Capabilities.Ambient,
		})
	}
	if sp.ConsoleSize != nil {
		p.ConsoleHeight, p.ConsoleWidth = uint16(sp.ConsoleSize.Height), uint16(sp.ConsoleSize.Width)
	}
	for _, rl := range sp.Rlimits {
		r, err := clampRlimit(rl)
		if err != nil {
			return nil, err
		}
		p.Rlimits = append(p.Rlimits, r)
	}
	p.AppArmorProfile = sp.ApparmorProfile
	p.Label = sp.SelinuxLabel
	return p, nil
}

var rlimitTypes = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}

// clampRlimit converts rl, lowering it to the shim's own hard limit: without
// CAP_SYS_RESOURCE a higher one fails the start.
func clampRlimit(rl specs.POSIXRlimit) (configs.Rlimit, error) {
	t, ok := rlimitTypes[rl.Type]
	if !ok {
		return configs.Rlimit{}, invalid(fmt.Errorf("unknown rlimit type %q", rl.Type))
	}
	r := configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft}
	var cur unix.Rlimit
	if err := unix.Getrlimit(t, &cur); err == nil && r.Hard > cur.Max && !hasCap(capSysResource) {
		r.Hard = cur.Max
	}
	if r.Soft > r.Hard {
		r.Soft = r.Hard
	}
	return r, nil
}

const capSysResource = 24

var (
	capsOnce  sync.Once
	boundMask uint64
	capByName map[string]uint
	effMask   uint64
)

func loadCaps() {
	capsOnce.Do(func() {
		capByName = make(map[string]uint)
		for _, c := range capability.List() {
			capByName["CAP_"+strings.ToUpper(c.String())] = uint(c)
		}
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			boundMask, effMask = ^uint64(0), ^uint64(0)
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				continue
			}
			switch k {
			case "CapBnd":
				boundMask = n
			case "CapEff":
				effMask = n
			}
		}
	})
}

func hasCap(c uint) bool {
	loadCaps()
	return effMask&(1<<c) != 0
}

// filterCaps drops the capabilities outside the shim's bounding set (and
// unknown ones): asking for them fails the start ("unable to apply caps").
func filterCaps(c *configs.Capabilities) *configs.Capabilities {
	loadCaps()
	f := func(l []string) []string {
		if l == nil {
			return nil
		}
		out := make([]string, 0, len(l))
		for _, name := range l {
			n, ok := capByName[strings.ToUpper(name)]
			if ok && boundMask&(1<<n) != 0 {
				out = append(out, name)
			}
		}
		return out
	}
	return &configs.Capabilities{
		Bounding:    f(c.Bounding),
		Effective:   f(c.Effective),
		Permitted:   f(c.Permitted),
		Inheritable: f(c.Inheritable),
		Ambient:     f(c.Ambient),
	}
}
