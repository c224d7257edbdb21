package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"

	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

// containerOptions are the flags `run` and `create` share, named as
// docker's. parse turns them into the create request.
type containerOptions struct {
	attach, capAdd, capDrop, dns, dnsOptions, dnsSearch, devices  *opts.ListOpt
	env, envFile, expose, extraHosts, groupAdd, labels, labelFile *opts.ListOpt
	links, logOpts, publish, securityOpt, storageOpt, tmpfs       *opts.ListOpt
	volumes, volumesFrom, aliases, networks, deviceCgroupRules    *opts.ListOpt
	sysctls, annotations                                          *opts.KeyValueOpt
	ulimits                                                       opts.UlimitOpt
	mounts                                                        opts.MountOpt
	memory, memoryReservation, shmSize                            opts.MemBytes
	memorySwap                                                    opts.MemSwapBytes
	cpus                                                          opts.NanoCPUs

	entrypoint, hostname, domainname, user, workdir, restart      string
	stopSignal, logDriver, volumeDriver, cpusetCpus, cpusetMems   string
	ipcMode, pidMode, utsMode, usernsMode, cgroupnsMode, runtime  string
	cgroupParent, isolation, macAddress, ip, ip6, containerIDFile string
	healthCmd                                                     string

	stdin, tty, autoRemove, privileged, readOnly, init, publishAll bool
	oomKillDisable, noHealthcheck                                  bool

	stopTimeout, oomScoreAdj, healthRetries                     int
	cpuShares, cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime   int64
	pidsLimit, swappiness                                       int64
	blkioWeight                                                 uint16
	healthInterval, healthTimeout, healthStart, healthStartIntv time.Duration

	image string
	args  []string
}

// createConfig is what parse produces: the three parts of the create
// request.
type createConfig struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

func addContainerFlags(f *pflag.FlagSet) *containerOptions {
	o := &containerOptions{
		attach:            opts.NewListOpt(validateAttach),
		capAdd:            opts.NewListOpt(nil),
		capDrop:           opts.NewListOpt(nil),
		dns:               opts.NewListOpt(validateIP),
		dnsOptions:        opts.NewListOpt(nil),
		dnsSearch:         opts.NewListOpt(nil),
		devices:           opts.NewListOpt(nil),
		deviceCgroupRules: opts.NewListOpt(nil),
		env:               opts.NewListOpt(opts.ValidateEnv),
		envFile:           opts.NewListOpt(nil),
		expose:            opts.NewListOpt(nil),
		extraHosts:        opts.NewListOpt(validateExtraHost),
		groupAdd:          opts.NewListOpt(nil),
		labels:            opts.NewListOpt(validateLabel),
		labelFile:         opts.NewListOpt(nil),
		links:             opts.NewListOpt(nil),
		logOpts:           opts.NewListOpt(nil),
		publish:           opts.NewListOpt(nil),
		securityOpt:       opts.NewListOpt(nil),
		storageOpt:        opts.NewListOpt(nil),
		tmpfs:             opts.NewListOpt(nil),
		volumes:           opts.NewListOpt(nil),
		volumesFrom:       opts.NewListOpt(nil),
		aliases:           opts.NewListOpt(nil),
		networks:          opts.NewListOpt(nil),
		sysctls:           opts.NewMapOpt(),
		annotations:       opts.NewMapOpt(),
	}
	f.SortFlags = true
	// -h is --hostname, as in docker, so help is --help only.
	f.Bool("help", false, "Print usage")
	f.VarP(o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	f.Var(o.deviceCgroupRules, "device-cgroup-rule", "Add a rule to the cgroup allowed devices list")
	f.Var(o.devices, "device", "Add a host device to the container")
	f.VarP(o.env, "env", "e", "Set environment variables")
	f.Var(o.envFile, "env-file", "Read in a file of environment variables")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.Var(o.groupAdd, "group-add", "Add additional groups to join")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
	f.BoolVarP(&o.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.VarP(o.labels, "label", "l", "Set meta data on a container")
	f.Var(o.labelFile, "label-file", "Read in a line delimited file of labels")
	f.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	f.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	f.Var(o.sysctls, "sysctl", "Sysctl options")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.Var(&o.ulimits, "ulimit", "Ulimit options")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")

	f.Var(o.capAdd, "cap-add", "Add Linux capabilities")
	f.Var(o.capDrop, "cap-drop", "Drop Linux capabilities")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	f.Var(o.securityOpt, "security-opt", "Security Options")
	f.StringVar(&o.usernsMode, "userns", "", "User namespace to use")
	f.StringVar(&o.cgroupnsMode, "cgroupns", "", "Cgroup namespace to use (host|private)")

	f.Var(o.extraHosts, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	f.Var(o.dns, "dns", "Set custom DNS servers")
	f.Var(o.dnsOptions, "dns-option", "Set DNS options")
	f.Var(o.dnsSearch, "dns-search", "Set custom DNS search domains")
	f.Var(o.expose, "expose", "Expose a port or a range of ports")
	f.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&o.ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	f.Var(o.links, "link", "Add link to another container")
	f.StringVar(&o.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.VarP(o.publish, "publish", "p", "Publish a container's port(s) to the host")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.Var(o.networks, "network", "Connect a container to a network")
	f.Var(o.networks, "net", "Connect a container to a network")
	_ = f.MarkHidden("net")
	f.Var(o.aliases, "network-alias", "Add network-scoped alias for the container")

	f.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	f.StringVar(&o.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
	f.Var(o.logOpts, "log-opt", "Log driver options")
	f.Var(o.storageOpt, "storage-opt", "Storage driver options for the container")
	f.Var(o.tmpfs, "tmpfs", "Mount a tmpfs directory")
	f.Var(o.volumesFrom, "volumes-from", "Mount volumes from the specified container(s)")
	f.VarP(o.volumes, "volume", "v", "Bind mount a volume")
	f.Var(&o.mounts, "mount", "Attach a filesystem mount to the container")

	f.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.healthStart, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.healthStartIntv, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	f.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")

	f.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.StringVar(&o.containerIDFile, "cidfile", "", "Write the container ID to the file")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	f.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Var(&o.cpus, "cpus", "Number of CPUs")
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	f.Int64Var(&o.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	f.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	f.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")

	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")
	f.StringVar(&o.ipcMode, "ipc", "", "IPC mode to use")
	f.StringVar(&o.isolation, "isolation", "", "Container isolation technology")
	f.StringVar(&o.pidMode, "pid", "", "PID namespace to use")
	f.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	f.StringVar(&o.utsMode, "uts", "", "UTS namespace to use")
	f.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	f.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	f.Var(o.annotations, "annotation", "Add an annotation to the container (passed through to the OCI runtime)")
	return o
}

func validateAttach(val string) (string, error) {
	s := strings.ToLower(val)
	if slices.Contains([]string{"stdin", "stdout", "stderr"}, s) {
		return s, nil
	}
	return val, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

func validateIP(val string) (string, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(val))
	if err != nil {
		return "", fmt.Errorf("IP address is not correctly formatted: %s", val)
	}
	return ip.String(), nil
}

func validateLabel(val string) (string, error) {
	if strings.Count(val, "=") < 1 {
		// docker accepts "-l foo" as foo with an empty value.
		return val, nil
	}
	if k, _, _ := strings.Cut(val, "="); strings.TrimSpace(k) == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", val)
	}
	return val, nil
}

func validateExtraHost(val string) (string, error) {
	k, v, ok := strings.Cut(val, "=")
	if !ok {
		k, v, ok = strings.Cut(val, ":")
	}
	if !ok || k == "" || strings.Contains(k, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", val)
	}
	if v != "host-gateway" {
		if len(v) > 2 && v[0] == '[' && v[len(v)-1] == ']' {
			v = v[1 : len(v)-1]
		}
		if _, err := netip.ParseAddr(v); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", v)
		}
	}
	return k + ":" + v, nil
}

// parse builds the create request from the flags, as the docker CLI's
// container/opts.go parse does, down to the empty-but-not-nil fields it
// sends. changed reports whether a flag was given on the command line.
func parse(o *containerOptions, changed func(string) bool) (*createConfig, error) {
	attachStdin := o.attach.Has("stdin") || o.stdin
	attachStdout := o.attach.Has("stdout")
	attachStderr := o.attach.Has("stderr")
	if o.attach.Len() == 0 {
		attachStdout, attachStderr = true, true
	}
	if o.macAddress != "" {
		if _, err := net.ParseMAC(strings.TrimSpace(o.macAddress)); err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.macAddress)
		}
	}
	if s := o.swappiness; s != -1 && (s < 0 || s > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", s)
	}

	binds, volumes, err := parseVolumes(o.volumes.Values())
	if err != nil {
		return nil, err
	}

	tmpfs := map[string]string{}
	for _, t := range o.tmpfs.Values() {
		k, v, _ := strings.Cut(t, ":")
		tmpfs[k] = v
	}

	var entrypoint []string
	if o.entrypoint != "" {
		entrypoint = []string{o.entrypoint}
	} else if changed("entrypoint") {
		entrypoint = []string{""}
	}
	var cmd []string
	if len(o.args) > 0 {
		cmd = o.args
	}

	exposed, bindings, err := parsePorts(o.publish.Values())
	if err != nil {
		return nil, err
	}
	for _, e := range o.expose.Values() {
		pr, err := network.ParsePortRange(e)
		if err != nil {
			return nil, fmt.Errorf("invalid range format for --expose: %w", err)
		}
		for p := range pr.All() {
			exposed[p] = struct{}{}
		}
	}

	devices := []container.DeviceMapping{}
	for _, d := range o.devices.Values() {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, err
		}
		devices = append(devices, dm)
	}

	env, err := opts.ReadEnvFiles(o.envFile.Values(), o.env.Values())
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	labelList, err := opts.ReadLabelFiles(o.labelFile.Values(), o.labels.Values())
	if err != nil {
		return nil, fmt.Errorf("--label-file: %w", err)
	}
	labels := kvMap(labelList)

	for _, m := range []struct{ name, val string }{{"pid", o.pidMode}, {"uts", o.utsMode}, {"userns", o.usernsMode}, {"cgroupns", o.cgroupnsMode}} {
		if !validMode(m.name, m.val) {
			return nil, fmt.Errorf("--%s: invalid %s mode", m.name, map[string]string{"pid": "PID", "uts": "UTS", "userns": "USER", "cgroupns": "CGROUP"}[m.name])
		}
	}

	restart, err := parseRestartPolicy(o.restart)
	if err != nil {
		return nil, err
	}
	if o.logDriver == "none" && o.logOpts.Len() > 0 {
		return nil, fmt.Errorf("invalid logging opts for driver %s", o.logDriver)
	}
	secOpts, err := parseSecurityOpts(o.securityOpt.Values())
	if err != nil {
		return nil, err
	}
	var masked, readonlyPaths []string
	filtered := secOpts[:0:0]
	for _, s := range secOpts {
		if s == "systempaths=unconfined" {
			masked, readonlyPaths = []string{}, []string{}
			continue
		}
		filtered = append(filtered, s)
	}
	if secOpts != nil {
		secOpts = filtered
	}
	storage := map[string]string{}
	for _, s := range o.storageOpt.Values() {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, errors.New("invalid storage option")
		}
		storage[k] = v
	}
	if len(storage) == 0 {
		storage = nil
	}

	health, err := o.healthConfig()
	if err != nil {
		return nil, err
	}

	capAdd, capDrop := effectiveCaps(o.capAdd.Values(), o.capDrop.Values())
	swappiness, oomKill, pids := o.swappiness, o.oomKillDisable, o.pidsLimit
	resources := container.Resources{
		CgroupParent:         o.cgroupParent,
		Memory:               o.memory.Value(),
		MemoryReservation:    o.memoryReservation.Value(),
		MemorySwap:           o.memorySwap.Value(),
		MemorySwappiness:     &swappiness,
		OomKillDisable:       &oomKill,
		NanoCPUs:             o.cpus.Value(),
		CPUShares:            o.cpuShares,
		CPUPeriod:            o.cpuPeriod,
		CpusetCpus:           o.cpusetCpus,
		CpusetMems:           o.cpusetMems,
		CPUQuota:             o.cpuQuota,
		CPURealtimePeriod:    o.cpuRtPeriod,
		CPURealtimeRuntime:   o.cpuRtRuntime,
		PidsLimit:            &pids,
		BlkioWeight:          o.blkioWeight,
		BlkioWeightDevice:    []*blkiodev.WeightDevice{},
		BlkioDeviceReadBps:   []*blkiodev.ThrottleDevice{},
		BlkioDeviceWriteBps:  []*blkiodev.ThrottleDevice{},
		BlkioDeviceReadIOps:  []*blkiodev.ThrottleDevice{},
		BlkioDeviceWriteIOps: []*blkiodev.ThrottleDevice{},
		Ulimits:              orEmpty(o.ulimits.Value()),
		DeviceCgroupRules:    o.deviceCgroupRules.Values(),
		Devices:              devices,
	}

	config := &container.Config{
		Hostname:     o.hostname,
		Domainname:   o.domainname,
		ExposedPorts: exposed,
		User:         o.user,
		Tty:          o.tty,
		OpenStdin:    o.stdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		Env:          env,
		Cmd:          cmd,
		Image:        o.image,
		Volumes:      volumes,
		Entrypoint:   entrypoint,
		WorkingDir:   o.workdir,
		Labels:       labels,
		StopSignal:   o.stopSignal,
		Healthcheck:  health,
	}
	if changed("stop-timeout") {
		t := o.stopTimeout
		config.StopTimeout = &t
	}

	hostConfig := &container.HostConfig{
		Binds:           binds,
		ContainerIDFile: o.containerIDFile,
		OomScoreAdj:     o.oomScoreAdj,
		AutoRemove:      o.autoRemove,
		Privileged:      o.privileged,
		PortBindings:    bindings,
		Links:           o.links.Values(),
		PublishAllPorts: o.publishAll,
		DNS:             toAddrs(o.dns.Values()),
		DNSSearch:       orEmpty(o.dnsSearch.Values()),
		DNSOptions:      orEmpty(o.dnsOptions.Values()),
		ExtraHosts:      o.extraHosts.Values(),
		VolumesFrom:     o.volumesFrom.Values(),
		IpcMode:         container.IpcMode(o.ipcMode),
		NetworkMode:     container.NetworkMode(o.networkMode()),
		PidMode:         container.PidMode(o.pidMode),
		UTSMode:         container.UTSMode(o.utsMode),
		UsernsMode:      container.UsernsMode(o.usernsMode),
		CgroupnsMode:    container.CgroupnsMode(o.cgroupnsMode),
		CapAdd:          capAdd,
		CapDrop:         capDrop,
		GroupAdd:        o.groupAdd.Values(),
		RestartPolicy:   restart,
		SecurityOpt:     secOpts,
		StorageOpt:      storage,
		ReadonlyRootfs:  o.readOnly,
		LogConfig:       container.LogConfig{Type: o.logDriver, Config: kvMap(o.logOpts.Values())},
		VolumeDriver:    o.volumeDriver,
		Isolation:       container.Isolation(o.isolation),
		ShmSize:         o.shmSize.Value(),
		Resources:       resources,
		Tmpfs:           tmpfs,
		Sysctls:         o.sysctls.Value(),
		Runtime:         o.runtime,
		Mounts:          o.mounts.Value(),
		MaskedPaths:     masked,
		ReadonlyPaths:   readonlyPaths,
		Annotations:     o.annotations.Value(),
	}
	if len(hostConfig.Tmpfs) == 0 {
		hostConfig.Tmpfs = nil
	}
	if o.autoRemove && !hostConfig.RestartPolicy.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if changed("init") {
		v := o.init
		hostConfig.Init = &v
	}
	if config.OpenStdin && config.AttachStdin {
		config.StdinOnce = true
	}

	endpoints, err := o.endpoints()
	if err != nil {
		return nil, err
	}
	return &createConfig{
		Config:           config,
		HostConfig:       hostConfig,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: endpoints},
	}, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func toAddrs(ips []string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// kvMap turns k=v strings into a map, never nil (docker sends {}).
func kvMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func validMode(name, val string) bool {
	if val == "" {
		return true
	}
	switch name {
	case "pid":
		return val == "host" || strings.HasPrefix(val, "container:") && len(val) > len("container:")
	case "uts":
		return val == "host"
	case "userns":
		return val == "host"
	case "cgroupns":
		return val == "host" || val == "private"
	}
	return true
}

func (o *containerOptions) networkMode() string {
	if nets := o.networks.Values(); len(nets) > 0 {
		name, _, _ := strings.Cut(nets[0], ",")
		return strings.TrimPrefix(name, "name=")
	}
	return "default"
}

func isUserDefined(n string) bool {
	switch {
	case n == "default", n == "bridge", n == "host", n == "none", strings.HasPrefix(n, "container:"):
		return false
	}
	return true
}

// endpoints is docker's parseNetworkOpts for the plain --network NAME
// form: the first network gets --ip, --ip6, --mac-address, --network-alias
// and (user-defined networks only) --link.
func (o *containerOptions) endpoints() (map[string]*network.EndpointSettings, error) {
	nets := o.networks.Values()
	if len(nets) == 0 {
		nets = []string{"default"}
	}
	out := map[string]*network.EndpointSettings{}
	for i, n := range nets {
		name, _, _ := strings.Cut(n, ",")
		name = strings.TrimPrefix(name, "name=")
		if strings.TrimSpace(name) == "" {
			return nil, errors.New("no name set for network")
		}
		ep := &network.EndpointSettings{}
		if i == 0 {
			if o.aliases.Len() > 0 {
				if !isUserDefined(name) {
					return nil, errors.New("network-scoped aliases are only supported for user-defined networks")
				}
				ep.Aliases = slices.Clone(o.aliases.Values())
			}
			if isUserDefined(name) && o.links.Len() > 0 {
				ep.Links = slices.Clone(o.links.Values())
			}
			var v4, v6 netip.Addr
			if o.ip != "" {
				a, err := netip.ParseAddr(o.ip)
				if err != nil || !a.Is4() {
					return nil, fmt.Errorf("invalid argument %q for \"--ip\" flag: invalid string being converted to IP address: %s", o.ip, o.ip)
				}
				v4 = a
			}
			if o.ip6 != "" {
				a, err := netip.ParseAddr(o.ip6)
				if err != nil {
					return nil, fmt.Errorf("invalid argument %q for \"--ip6\" flag: invalid string being converted to IP address: %s", o.ip6, o.ip6)
				}
				v6 = a
			}
			if v4.IsValid() || v6.IsValid() {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: v4, IPv6Address: v6}
			}
			if o.macAddress != "" {
				ma, _ := net.ParseMAC(strings.TrimSpace(o.macAddress))
				ep.MacAddress = network.HardwareAddr(ma)
			}
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("network %q is specified multiple times", name)
		}
		if len(o.networks.Values()) == 1 && i == 0 && isZeroEndpoint(ep) {
			continue
		}
		out[name] = ep
	}
	return out, nil
}

func isZeroEndpoint(ep *network.EndpointSettings) bool {
	return ep.IPAMConfig == nil && len(ep.Aliases) == 0 && len(ep.Links) == 0 && len(ep.MacAddress) == 0 && ep.DriverOpts == nil
}

func (o *containerOptions) healthConfig() (*container.HealthConfig, error) {
	have := o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 ||
		o.healthStart != 0 || o.healthRetries != 0 || o.healthStartIntv != 0
	if o.noHealthcheck {
		if have {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !have {
		return nil, nil
	}
	for _, c := range []struct {
		name string
		neg  bool
	}{
		{"interval", o.healthInterval < 0}, {"timeout", o.healthTimeout < 0}, {"retries", o.healthRetries < 0},
		{"start-period", o.healthStart < 0}, {"start-interval", o.healthStartIntv < 0},
	} {
		if c.neg {
			return nil, fmt.Errorf("--health-%s cannot be negative", c.name)
		}
	}
	var probe []string
	if o.healthCmd != "" {
		probe = []string{"CMD-SHELL", o.healthCmd}
	}
	return &container.HealthConfig{
		Test: probe, Interval: o.healthInterval, Timeout: o.healthTimeout,
		StartPeriod: o.healthStart, StartInterval: o.healthStartIntv, Retries: o.healthRetries,
	}, nil
}

// parseRestartPolicy is docker's: "" means unset, "name[:count]".
func parseRestartPolicy(policy string) (container.RestartPolicy, error) {
	if policy == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, ok := strings.Cut(policy, ":")
	if ok && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	var n int
	if count != "" {
		c, err := strconv.Atoi(count)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		n = c
	}
	return container.RestartPolicy{Name: container.RestartPolicyMode(name), MaximumRetryCount: n}, nil
}

// parseSecurityOpts checks the key=value (or key:value) form and inlines a
// seccomp profile file, as docker does.
func parseSecurityOpts(in []string) ([]string, error) {
	out := slices.Clone(in)
	for i, opt := range out {
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "builtin" && v != "unconfined" {
			f, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, f); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			out[i] = "seccomp=" + b.String()
		}
	}
	return out, nil
}

// parseDevice parses --device host[:container[:perms]].
func parseDevice(d string) (container.DeviceMapping, error) {
	src, dst, perms := "", "", "rwm"
	parts := strings.Split(d, ":")
	switch len(parts) {
	case 3:
		if !validDeviceMode(parts[2]) {
			return container.DeviceMapping{}, fmt.Errorf("invalid device mode: %s", parts[2])
		}
		perms = parts[2]
		fallthrough
	case 2:
		if validDeviceMode(parts[1]) && len(parts) == 2 {
			perms = parts[1]
		} else {
			dst = parts[1]
		}
		fallthrough
	case 1:
		src = parts[0]
	default:
		return container.DeviceMapping{}, fmt.Errorf("invalid device specification: %s", d)
	}
	if dst == "" {
		dst = src
	}
	return container.DeviceMapping{PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms}, nil
}

func validDeviceMode(m string) bool {
	if m == "" || len(m) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range m {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// parseVolumes splits -v values as docker does: a spec with a source (a
// host path or a volume name) is a bind, sent in HostConfig.Binds with a
// relative "./" host path made absolute; a bare container path is an
// anonymous volume, sent in Config.Volumes.
func parseVolumes(specs []string) (binds []string, volumes map[string]struct{}, _ error) {
	volumes = map[string]struct{}{}
	for _, s := range specs {
		volumes[s] = struct{}{}
	}
	for _, s := range specs {
		if _, ok := volumes[s]; !ok {
			continue // a duplicate already handled
		}
		v, err := parseVolumeSpec(s)
		if err != nil {
			return nil, nil, err
		}
		if v.Source == "" {
			continue
		}
		bind := s
		if v.Type == mount.TypeBind {
			if host, target, ok := strings.Cut(s, ":"); ok {
				if !filepath.IsAbs(host) && strings.HasPrefix(host, ".") {
					if abs, err := filepath.Abs(host); err == nil {
						host = abs
					}
				}
				bind = host + ":" + target
			}
		}
		binds = append(binds, bind)
		delete(volumes, s)
	}
	return binds, volumes, nil
}

// volumeSpec is a parsed -v value.
type volumeSpec struct {
	Type     mount.Type
	Source   string
	Target   string
	ReadOnly bool
	Mode     string
}

// parseVolumeSpec is docker's volumespec.Parse (for Linux paths):
// [source:]target[:mode] where mode is a comma list (ro, rw, z, Z,
// nocopy, propagation). A source starting with '.', '/' or '~' is a
// host path, anything else names a volume.
func parseVolumeSpec(spec string) (volumeSpec, error) {
	var v volumeSpec
	switch len(spec) {
	case 0:
		return v, errors.New("invalid empty volume spec")
	case 1, 2:
		v.Target, v.Type = spec, mount.TypeVolume
		return v, nil
	}
	parts := strings.Split(spec, ":")
	for _, p := range parts {
		if p == "" {
			return v, fmt.Errorf("invalid spec: %s: empty section between colons", spec)
		}
	}
	switch len(parts) {
	case 1:
		v.Target = parts[0]
	case 2:
		v.Source, v.Target = parts[0], parts[1]
	case 3:
		v.Source, v.Target, v.Mode = parts[0], parts[1], parts[2]
		for _, m := range strings.Split(v.Mode, ",") {
			switch m {
			case "ro":
				v.ReadOnly = true
			case "rw":
				v.ReadOnly = false
			}
		}
	default:
		return v, fmt.Errorf("invalid spec: %s: too many colons", spec)
	}
	switch {
	case v.Source == "":
		v.Type = mount.TypeVolume
	case strings.ContainsAny(v.Source[:1], "./~"):
		v.Type = mount.TypeBind
	default:
		v.Type = mount.TypeVolume
	}
	return v, nil
}

// parsePorts is docker's -p parsing (nat.ParsePortSpecs with the long
// "target=,published=,protocol=" form converted first):
// [[ip:][hostPort]:]containerPort[/proto], ranges allowed on both sides.
// Every published port is also exposed.
func parsePorts(specs []string) (network.PortSet, network.PortMap, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, raw := range specs {
		spec := raw
		if strings.Contains(raw, "=") {
			params := map[string]string{"protocol": "tcp"}
			for _, kv := range strings.Split(raw, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, nil, fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", kv)
				}
				params[k] = v
			}
			spec = fmt.Sprintf("%s:%s/%s", params["published"], params["target"], params["protocol"])
		}
		if err := parsePortSpec(spec, exposed, bindings); err != nil {
			return nil, nil, err
		}
	}
	return exposed, bindings, nil
}

func parsePortSpec(raw string, exposed network.PortSet, bindings network.PortMap) error {
	ip, hostPort, containerPort := "", "", ""
	rest := raw
	proto := "tcp"
	if i := strings.LastIndex(rest, "/"); i >= 0 {
		rest, proto = rest[:i], strings.ToLower(rest[i+1:])
		if proto == "" {
			proto = "tcp"
		}
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return fmt.Errorf("invalid proto: %s", proto)
	}
	// An IPv6 address is in brackets: [::1]:80:80.
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return fmt.Errorf("invalid IP address: %s", rest)
		}
		ip = rest[1:end]
		rest = strings.TrimPrefix(rest[end+1:], ":")
		parts := strings.Split(rest, ":")
		if len(parts) != 2 {
			return fmt.Errorf("invalid port format for --publish: %s", raw)
		}
		hostPort, containerPort = parts[0], parts[1]
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			containerPort = parts[0]
		case 2:
			hostPort, containerPort = parts[0], parts[1]
		case 3:
			ip, hostPort, containerPort = parts[0], parts[1], parts[2]
		default:
			// An unbracketed IPv6 address: everything before the last two.
			n := len(parts)
			ip, hostPort, containerPort = strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1]
		}
	}
	if ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("invalid IP address: %s", ip)
		}
	}
	if containerPort == "" {
		return fmt.Errorf("no port specified: %s<empty>", raw)
	}
	cStart, cEnd, err := parseRange(containerPort)
	if err != nil {
		return fmt.Errorf("invalid containerPort: %s", containerPort)
	}
	var hStart, hEnd uint64
	if hostPort != "" {
		hStart, hEnd, err = parseRange(hostPort)
		if err != nil {
			return fmt.Errorf("invalid hostPort: %s", hostPort)
		}
	}
	if hostPort != "" && (cEnd-cStart) != (hEnd-hStart) {
		// A single container port may take a host port range.
		if cEnd != cStart {
			return fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", containerPort, hostPort)
		}
	}
	var addr netip.Addr
	if ip != "" {
		addr, _ = netip.ParseAddr(ip)
	}
	for i := uint64(0); i <= cEnd-cStart; i++ {
		p, ok := network.PortFrom(uint16(cStart+i), network.IPProtocol(proto))
		if !ok {
			return fmt.Errorf("invalid containerPort: %s", containerPort)
		}
		hp := ""
		switch {
		case hostPort == "":
		case cEnd != cStart || hEnd == hStart:
			hp = strconv.FormatUint(hStart+i, 10)
		default:
			hp = fmt.Sprintf("%d-%d", hStart, hEnd)
		}
		exposed[p] = struct{}{}
		b := network.PortBinding{HostIP: addr, HostPort: hp}
		if !slices.Contains(bindings[p], b) {
			bindings[p] = append(bindings[p], b)
		}
	}
	return nil
}

func parseRange(s string) (start, end uint64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	start, err = strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	end = start
	if isRange {
		end, err = strconv.ParseUint(b, 10, 16)
		if err != nil {
			return 0, 0, err
		}
		if end < start {
			return 0, 0, errors.New("invalid range")
		}
	}
	return start, end, nil
}

func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || c == "RESET" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

// effectiveCaps is docker's EffectiveCapAddCapDrop: names normalized to
// CAP_X, ALL absorbing the rest, a capability both added and dropped
// only added, both lists sorted.
func effectiveCaps(add, drop []string) (capAdd, capDrop []string) {
	set := func(caps []string) map[string]bool {
		m := map[string]bool{}
		for _, c := range caps {
			m[normalizeCap(c)] = true
		}
		if m["ALL"] {
			m = map[string]bool{"ALL": true}
		}
		return m
	}
	addCaps, dropCaps := set(add), set(drop)
	for c := range dropCaps {
		if !addCaps[c] && c != "RESET" {
			capDrop = append(capDrop, c)
		}
	}
	for c := range addCaps {
		if c != "RESET" {
			capAdd = append(capAdd, c)
		}
	}
	slices.Sort(capAdd)
	slices.Sort(capDrop)
	return capAdd, capDrop
}
