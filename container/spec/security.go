package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	seccompUnconfined = "unconfined"
	seccompBuiltin    = "builtin"
)

// securityOptions is HostConfig.SecurityOpt parsed as Docker's
// parseSecurityOpt does.
type securityOptions struct {
	noNewPrivileges bool
	seccompProfile  string // "", "unconfined", "builtin" or a JSON profile
	writableCgroups *bool
	// systemPathsUnconfined: "systempaths=unconfined" (the docker CLI turns
	// it into empty MaskedPaths/ReadonlyPaths; accepted here as well).
	systemPathsUnconfined bool
}

func parseSecurityOpt(opts []string) (securityOptions, error) {
	var so securityOptions
	for _, opt := range opts {
		if opt == "no-new-privileges" {
			so.noNewPrivileges = true
			continue
		}
		if opt == "disable" { // legacy form of label=disable
			continue
		}
		var k, v string
		var ok bool
		if strings.Contains(opt, "=") {
			k, v, ok = strings.Cut(opt, "=")
		} else if strings.Contains(opt, ":") {
			// Deprecated ":" separator, still accepted by Docker.
			k, v, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return so, invalidf("invalid --security-opt 1: %q", opt)
		}
		switch k {
		case "label", "apparmor":
			// No SELinux or AppArmor on berth's hosts: accepted and ignored,
			// as Docker does when the host does not support them.
		case "seccomp":
			so.seccompProfile = v
		case "no-new-privileges":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, invalidf("invalid --security-opt 2: %q", opt)
			}
			so.noNewPrivileges = b
		case "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, invalidf("invalid --security-opt 2: %q", opt)
			}
			so.writableCgroups = &b
		case "systempaths":
			if v != "unconfined" {
				return so, invalidf("invalid --security-opt 2: %q", opt)
			}
			so.systemPathsUnconfined = true
		default:
			return so, invalidf("invalid --security-opt 2: %q", opt)
		}
	}
	return so, nil
}

// setSeccomp sets s.Linux.Seccomp; it must run after the capabilities are
// set since the default profile allows some syscalls by capability.
func setSeccomp(s *specs.Spec, profile string, privileged bool) error {
	switch {
	case privileged, profile == seccompUnconfined:
		s.Linux.Seccomp = nil
		return nil
	case profile == "" || profile == seccompBuiltin:
		sc, err := defaultSeccomp(s.Process.Capabilities.Bounding)
		if err != nil {
			return err
		}
		dropDeadArches(sc)
		s.Linux.Seccomp = sc
		return nil
	default:
		sc, err := seccomp.LoadProfile(profile, s)
		if err != nil {
			return invalid(err)
		}
		dropDeadArches(sc)
		s.Linux.Seccomp = sc
		return nil
	}
}

// The default profile depends only on the bounding capabilities (plus the
// architecture and kernel version, fixed for the process), so it is built
// once per capability set and shared.
var (
	seccompCacheMu sync.Mutex
	seccompCache   = map[string]*specs.LinuxSeccomp{}
)

func defaultSeccomp(bounding []string) (*specs.LinuxSeccomp, error) {
	sorted := slices.Clone(bounding)
	slices.Sort(sorted)
	key := strings.Join(sorted, ",")

	seccompCacheMu.Lock()
	sc, ok := seccompCache[key]
	seccompCacheMu.Unlock()
	if !ok {
		tmp := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: sorted}}}
		var err error
		sc, err = seccomp.GetDefaultProfile(tmp)
		if err != nil {
			return nil, fmt.Errorf("generating the default seccomp profile: %w", err)
		}
		seccompCacheMu.Lock()
		if len(seccompCache) > 64 { // bounded: a handful of cap sets in practice
			clear(seccompCache)
		}
		seccompCache[key] = sc
		seccompCacheMu.Unlock()
	}
	return cloneSeccomp(sc), nil
}

// cloneSeccomp copies the profile and its rule slice so a caller may append
// or replace rules; the strings and argument slices inside the rules are
// shared and must not be modified in place.
func cloneSeccomp(sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	c := *sc
	c.Architectures = slices.Clone(sc.Architectures)
	c.Flags = slices.Clone(sc.Flags)
	c.Syscalls = slices.Clone(sc.Syscalls)
	return &c
}
