// Package spec turns a container's Docker configuration into an OCI runtime
// spec with the Docker Engine's defaults: Docker's capabilities, seccomp
// profile, masked and read-only paths, mounts, device rules and resource
// validation (with Docker's error messages), adapted to berthd, which runs
// without CAP_SYS_RESOURCE: capabilities are filtered to the daemon's
// bounding set, rlimits are clamped to its hard limits and a negative
// oom_score_adj is refused.
package spec

import (
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultPathEnv is the PATH set when the configuration has none.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCgroupParent is the cgroup parent when neither Options.CgroupParent
// nor HostConfig.CgroupParent is set.
const DefaultCgroupParent = "/berth"

// Options is the input of Generate.
type Options struct {
	ID string
	// Config is already merged with the image config (Env, Cmd,
	// Entrypoint, WorkingDir, User, ...).
	Config     *container.Config
	HostConfig *container.HostConfig
	// Rootfs is the mounted rootfs path (absolute).
	Rootfs string
	// Mounts are resolved by the daemon: volumes, binds, /etc/hosts,
	// /etc/hostname, /etc/resolv.conf, in order. Generate adds the default
	// mounts and HostConfig.Tmpfs and sorts parents before children; a
	// mount here replaces the default mount on the same destination.
	Mounts   []specs.Mount
	Hostname string // defaults to Config.Hostname, then ID[:12]
	// CgroupParent: "/berth" unless HostConfig.CgroupParent is set (then
	// that). Empty: HostConfig.CgroupParent, else DefaultCgroupParent.
	CgroupParent string
	// Namespace paths for container:<x> modes, resolved by the daemon
	// ("/proc/<pid>/ns/net"). Empty: a new namespace unless HostConfig
	// says host. A path given for a non-host mode is joined as well.
	NetNSPath, IPCNSPath, PIDNSPath string
	// BoundingCaps are the capabilities the daemon holds; spec
	// capabilities are filtered to these and a privileged container gets
	// all of them. nil: read with BoundingSet().
	BoundingCaps []string
	// InitPath is the host path of the init (LookupInit) to run as PID 1
	// with the command as its arguments (WantsInit decides); empty: the
	// command is PID 1. Ignored, as in Docker, when the container shares
	// another PID namespace.
	InitPath string
}

// DefaultMaskedPaths are the paths Docker masks in non-privileged containers.
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths are the paths Docker makes read-only in
// non-privileged containers.
func DefaultReadonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}

// Generate builds the OCI runtime spec of a container. Errors caused by the
// configuration are invalid-parameter errors (errors.Is(err,
// errdefs.ErrInvalidArgument), errdefs.IsInvalidArgument) carrying Docker's
// messages.
func Generate(o Options) (*specs.Spec, error) {
	if o.Config == nil {
		return nil, invalidf("container config is missing")
	}
	if o.ID == "" {
		return nil, invalidf("container ID is missing")
	}
	hc := o.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if !filepath.IsAbs(o.Rootfs) {
		return nil, invalidf("rootfs path %q must be absolute", o.Rootfs)
	}
	bounding := o.BoundingCaps
	if bounding == nil {
		var err error
		if bounding, err = BoundingSet(); err != nil {
			return nil, err
		}
	}
	so, err := parseSecurityOpt(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}

	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: o.Rootfs, Readonly: hc.ReadonlyRootfs},
		Linux:   &specs.Linux{},
	}

	// Process.
	args := make([]string, 0, len(o.Config.Entrypoint)+len(o.Config.Cmd))
	args = append(append(args, o.Config.Entrypoint...), o.Config.Cmd...)
	if len(args) == 0 {
		return nil, invalidf("no command specified")
	}
	withInit := o.InitPath != "" && ownPIDNamespace(hc) && o.PIDNSPath == ""
	if withInit {
		if !filepath.IsAbs(o.InitPath) {
			return nil, invalidf("init path %q must be absolute", o.InitPath)
		}
		args = append([]string{InContainerInitPath, "--"}, args...)
	}
	cwd := o.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, invalidf("the working directory '%s' is invalid, it needs to be an absolute path", o.Config.WorkingDir)
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = o.Config.Hostname
	}
	if hostname == "" {
		hostname = o.ID[:min(12, len(o.ID))]
	}
	usr, err := resolveUser(o.Rootfs, o.Config.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	usr.Umask = hc.Umask
	s.Process = &specs.Process{
		Terminal:        o.Config.Tty,
		User:            usr,
		Args:            args,
		Env:             processEnv(o.Config, hostname),
		Cwd:             path.Clean(cwd),
		NoNewPrivileges: so.noNewPrivileges,
	}
	if o.Config.Tty && (hc.ConsoleSize[0] != 0 || hc.ConsoleSize[1] != 0) {
		s.Process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, invalidf("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj)
	}
	if hc.OomScoreAdj < 0 {
		return nil, invalidf("oom_score_adj below 0 (%d) needs CAP_SYS_RESOURCE, which berthd does not hold", hc.OomScoreAdj)
	}
	if hc.OomScoreAdj > 0 {
		// 0 is left unset: the container inherits berthd's value, which an
		// explicit 0 could not lower back to without CAP_SYS_RESOURCE.
		adj := hc.OomScoreAdj
		s.Process.OOMScoreAdj = &adj
	}
	if s.Process.Rlimits, err = rlimits(hc.Ulimits); err != nil {
		return nil, err
	}

	// Capabilities, then seccomp (the default profile depends on them).
	caps, err := tweakCapabilities(hc.CapAdd, hc.CapDrop, hc.Privileged, bounding)
	if err != nil {
		return nil, err
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	if err := setSeccomp(s, so.seccompProfile, hc.Privileged); err != nil {
		return nil, err
	}

	// Namespaces.
	if s.Linux.Namespaces, err = namespaces(hc, o); err != nil {
		return nil, err
	}
	if !hc.UTSMode.IsHost() {
		s.Hostname = hostname
		s.Domainname = o.Config.Domainname
	}

	// Mounts.
	defs, err := defaultMounts(hc, so)
	if err != nil {
		return nil, err
	}
	if withInit {
		defs = append(defs, initMount(o.InitPath))
	}
	tmpfs, err := tmpfsMounts(hc.Tmpfs)
	if err != nil {
		return nil, err
	}
	if s.Mounts, err = mergeMounts(defs, o.Mounts, tmpfs); err != nil {
		return nil, err
	}
	s.Linux.RootfsPropagation = rootfsPropagation(o.Mounts)

	// Masked and read-only paths: none for privileged containers; the
	// HostConfig's when set (an empty list = none), else Docker's.
	if !hc.Privileged && !so.systemPathsUnconfined {
		s.Linux.MaskedPaths = DefaultMaskedPaths()
		if hc.MaskedPaths != nil {
			s.Linux.MaskedPaths = append([]string(nil), hc.MaskedPaths...)
		}
		s.Linux.ReadonlyPaths = DefaultReadonlyPaths()
		if hc.ReadonlyPaths != nil {
			s.Linux.ReadonlyPaths = append([]string(nil), hc.ReadonlyPaths...)
		}
	}

	// Sysctls.
	if len(hc.Sysctls) > 0 {
		if err := validateSysctls(hc); err != nil {
			return nil, err
		}
		s.Linux.Sysctl = make(map[string]string, len(hc.Sysctls))
		for k, v := range hc.Sysctls {
			s.Linux.Sysctl[k] = v
		}
	}

	// Cgroups and resources.
	parent := o.CgroupParent
	if parent == "" {
		parent = hc.CgroupParent
	}
	if parent == "" {
		parent = DefaultCgroupParent
	}
	s.Linux.CgroupsPath = path.Join(parent, o.ID)
	if s.Linux.Resources, err = linuxResources(&hc.Resources); err != nil {
		return nil, err
	}

	// Devices.
	if hc.Privileged {
		devs, err := host.hostDevices()
		if err != nil {
			return nil, err
		}
		s.Linux.Devices = devs
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		s.Linux.Resources.Devices = defaultDeviceRules()
		for _, dm := range hc.Devices {
			devs, rules, err := devicesFromMapping(dm)
			if err != nil {
				return nil, err
			}
			s.Linux.Devices = append(s.Linux.Devices, devs...)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
		}
		for _, r := range hc.DeviceCgroupRules {
			rule, err := parseDeviceCgroupRule(r)
			if err != nil {
				return nil, err
			}
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
		}
	}
	return s, nil
}

// processEnv is Docker's CreateDaemonEnvironment: PATH (if the config has
// none), HOSTNAME, TERM=xterm with a TTY, then the config's Env replacing
// or adding.
func processEnv(c *container.Config, hostname string) []string {
	env := make([]string, 0, len(c.Env)+3)
	env = append(env, "PATH="+DefaultPathEnv, "HOSTNAME="+hostname)
	if c.Tty {
		env = append(env, "TERM=xterm")
	}
	return replaceOrAppendEnv(env, c.Env)
}

// namespaces: pid, ipc, uts, mount and network are new unless the mode says
// host (omitted: the host's is shared) or a path is given (joined).
func namespaces(hc *container.HostConfig, o Options) ([]specs.LinuxNamespace, error) {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	add := func(typ specs.LinuxNamespaceType, isHost bool, p, mode string) error {
		switch {
		case isHost:
			if p != "" {
				return invalidf("conflicting options: %s mode %q and a namespace path", typ, mode)
			}
			return nil
		case p != "":
			ns = append(ns, specs.LinuxNamespace{Type: typ, Path: p})
		default:
			// container:<x> without a path also gets a new namespace: the
			// daemon resolves the path at start; callers that only want
			// the process (exec) need not.
			ns = append(ns, specs.LinuxNamespace{Type: typ})
		}
		return nil
	}
	if err := add(specs.NetworkNamespace, hc.NetworkMode.IsHost(), o.NetNSPath, string(hc.NetworkMode)); err != nil {
		return nil, err
	}
	if err := add(specs.IPCNamespace, hc.IpcMode.IsHost(), o.IPCNSPath, string(hc.IpcMode)); err != nil {
		return nil, err
	}
	if err := add(specs.PIDNamespace, hc.PidMode.IsHost(), o.PIDNSPath, string(hc.PidMode)); err != nil {
		return nil, err
	}
	if !hc.UTSMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	if hc.CgroupnsMode.IsPrivate() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns, nil
}

// ipcSysctls are the namespaced kernel.* sysctls of the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax":          true,
	"kernel.msgmnb":          true,
	"kernel.msgmni":          true,
	"kernel.sem":             true,
	"kernel.shmall":          true,
	"kernel.shmmax":          true,
	"kernel.shmmni":          true,
	"kernel.shm_rmid_forced": true,
}

// validateSysctls accepts only namespaced sysctls, and only when the
// container has its own namespace of that kind (what runc checks at start).
func validateSysctls(hc *container.HostConfig) error {
	keys := make([]string, 0, len(hc.Sysctls))
	for k := range hc.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := strings.ReplaceAll(k, "/", ".")
		switch {
		case ipcSysctls[key] || strings.HasPrefix(key, "fs.mqueue."):
			if hc.IpcMode.IsHost() {
				return invalidf("sysctl %q is not allowed in the host IPC namespace", k)
			}
		case strings.HasPrefix(key, "net."):
			if hc.NetworkMode.IsHost() {
				return invalidf("sysctl %q is not allowed in the host network namespace", k)
			}
		case key == "kernel.domainname":
			if hc.UTSMode.IsHost() {
				return invalidf("sysctl %q is not allowed in the host UTS namespace", k)
			}
		default:
			return invalidf("sysctl %q is not allowed: it is not namespaced", k)
		}
	}
	return nil
}
