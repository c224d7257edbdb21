package spec

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	linuxMinMemory    = 6 * 1024 * 1024 // Docker's 6MB minimum
	linuxMinCPUShares = 2
	linuxMaxCPUShares = 262144
	cfsPeriod         = 100000 // 100ms in µs, Docker's period for NanoCPUs
)

// hostInfo is what the generator reads from the host; tests replace it.
type hostInfo struct {
	onlineCPUs   func() (string, error)
	onlineMems   func() (string, error)
	numCPU       func() int
	cgroups      func() CgroupSupport
	rlimitHard   func(resource int) (uint64, error)
	hostDevices  func() ([]specs.LinuxDevice, error)
	deviceAtPath func(path string) (specs.LinuxDevice, error)
}

var host = hostInfo{
	onlineCPUs:   func() (string, error) { return readTrim("/sys/devices/system/cpu/online") },
	onlineMems:   onlineMemNodes,
	numCPU:       runtime.NumCPU,
	cgroups:      sync.OnceValue(probeCgroups),
	rlimitHard:   getHardLimit,
	hostDevices:  hostDevices,
	deviceAtPath: deviceFromPath,
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

func onlineMemNodes() (string, error) {
	s, err := readTrim("/sys/devices/system/node/online")
	if os.IsNotExist(err) {
		return "0", nil // no NUMA support: a single node 0
	}
	return s, err
}

// DefaultCgroupnsMode is Docker's default cgroup namespace mode for this
// host: private on a cgroup v2 host, host on cgroup v1.
func DefaultCgroupnsMode() container.CgroupnsMode {
	if isCgroup2() {
		return container.CgroupnsModePrivate
	}
	return container.CgroupnsModeHost
}

func isCgroup2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// CgroupSupport is which resource limits the host's cgroups can apply
// (Docker's sysinfo): a controller that is not mounted (v1) or not
// available at the root (v2) cannot limit anything, and Docker then
// discards the setting with a warning rather than failing the start.
type CgroupSupport struct {
	MemoryLimit, SwapLimit, MemoryReservation, MemorySwappiness, OomKillDisable bool
	CPUShares, CPUCfs, Cpuset, PidsLimit, BlkioWeight                           bool
}

// Cgroups probes the host's cgroups once per process: controllers do not
// come and go while berthd runs.
func Cgroups() CgroupSupport { return host.cgroups() }

func probeCgroups() CgroupSupport {
	if isCgroup2() {
		return probeCgroups2("/sys/fs/cgroup")
	}
	return probeCgroups1("/sys/fs/cgroup")
}

// probeCgroups2 reads the controllers of the root of the unified
// hierarchy at root: runc enables them down to the container's cgroup.
func probeCgroups2(root string) CgroupSupport {
	b, _ := os.ReadFile(root + "/cgroup.controllers")
	have := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		have[c] = true
	}
	return CgroupSupport{
		MemoryLimit: have["memory"], MemoryReservation: have["memory"], OomKillDisable: false,
		// memory.swap.max exists in children when swap accounting is on.
		SwapLimit:        have["memory"] && (exists(root+"/init.scope/memory.swap.max") || exists(root+"/system.slice/memory.swap.max") || subtreeHas(root, "memory")),
		MemorySwappiness: false, // no memory.swappiness on v2
		CPUShares:        have["cpu"], CPUCfs: have["cpu"],
		Cpuset:      have["cpuset"],
		PidsLimit:   have["pids"],
		BlkioWeight: have["io"],
	}
}

// subtreeHas reports whether the v2 cgroup dir enables controller for its
// children.
func subtreeHas(dir, controller string) bool {
	b, err := os.ReadFile(dir + "/cgroup.subtree_control")
	return err == nil && slices.Contains(strings.Fields(string(b)), controller)
}

// probeCgroups1 looks for each v1 controller's files under root.
func probeCgroups1(root string) CgroupSupport {
	return CgroupSupport{
		MemoryLimit:       exists(root + "/memory/memory.limit_in_bytes"),
		SwapLimit:         exists(root + "/memory/memory.memsw.limit_in_bytes"),
		MemoryReservation: exists(root + "/memory/memory.soft_limit_in_bytes"),
		MemorySwappiness:  exists(root + "/memory/memory.swappiness"),
		OomKillDisable:    exists(root + "/memory/memory.oom_control"),
		CPUShares:         exists(root + "/cpu/cpu.shares"),
		CPUCfs:            exists(root + "/cpu/cpu.cfs_quota_us"),
		Cpuset:            exists(root + "/cpuset/cpuset.cpus"),
		PidsLimit:         exists(root + "/pids/cgroup.procs"),
		BlkioWeight:       exists(root+"/blkio/blkio.weight") || exists(root+"/blkio/blkio.bfq.weight"),
	}
}

// DiscardUnsupported drops from r, as Docker does at create and update,
// the limits this host's cgroups cannot apply, and returns Docker's
// warnings for them; --cpus without CFS is an error, as in Docker.
func DiscardUnsupported(r *container.Resources) ([]string, error) {
	cg := host.cgroups()
	var w []string
	if r.Memory > 0 && !cg.MemoryLimit {
		w = append(w, "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.Memory, r.MemorySwap = 0, -1
	}
	if r.Memory > 0 && r.MemorySwap != -1 && !cg.SwapLimit {
		w = append(w, "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		r.MemorySwap = -1
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness != -1 && !cg.MemorySwappiness {
		w = append(w, "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.")
		r.MemorySwappiness = nil
	}
	if r.MemoryReservation > 0 && !cg.MemoryReservation {
		w = append(w, "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.")
		r.MemoryReservation = 0
	}
	if r.OomKillDisable != nil && !cg.OomKillDisable {
		if *r.OomKillDisable {
			w = append(w, "Your kernel does not support OomKillDisable. OomKillDisable discarded.")
		}
		r.OomKillDisable = nil
	}
	if r.PidsLimit != nil && !cg.PidsLimit {
		if *r.PidsLimit > 0 {
			w = append(w, "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.")
		}
		r.PidsLimit = nil
	}
	if r.NanoCPUs > 0 && !cg.CPUCfs {
		return w, invalidf("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted")
	}
	if r.CPUShares > 0 && !cg.CPUShares {
		w = append(w, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.")
		r.CPUShares = 0
	}
	if (r.CPUPeriod != 0 || r.CPUQuota != 0) && !cg.CPUCfs {
		w = append(w, "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
		r.CPUPeriod, r.CPUQuota = 0, 0
	}
	if (r.CpusetCpus != "" || r.CpusetMems != "") && !cg.Cpuset {
		w = append(w, "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.")
		r.CpusetCpus, r.CpusetMems = "", ""
	}
	if r.BlkioWeight > 0 && !cg.BlkioWeight {
		w = append(w, "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
		r.BlkioWeight = 0
	}
	return w, nil
}

// parseUintList parses a cpuset list like "0-2,4" (Docker's
// parsers.ParseUintList). Ranges are capped to keep the map small.
func parseUintList(val string) (map[int]bool, error) {
	out := map[int]bool{}
	if val == "" {
		return out, nil
	}
	errInvalid := fmt.Errorf("invalid format: %s", val)
	for _, r := range strings.Split(val, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, errInvalid
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, errInvalid
			}
		}
		if b-a > 1<<16 {
			return nil, errInvalid
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// cpusetAvailable reports whether every element of requested is in available.
func cpusetAvailable(requested, available string) (bool, error) {
	req, err := parseUintList(requested)
	if err != nil {
		return false, err
	}
	avail, err := parseUintList(available)
	if err != nil {
		return false, err
	}
	for k := range req {
		if !avail[k] {
			return false, nil
		}
	}
	return true, nil
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool   { return &v }

// linuxResources validates HostConfig's resources with Docker's rules and
// messages (daemon_unix.go verifyPlatformContainerResources) and converts
// them to the OCI spec. Settings the host cannot apply (swap limit without
// swap accounting, blkio weight without a weight file) are dropped, as
// Docker does with a warning.
func linuxResources(r *container.Resources) (*specs.LinuxResources, error) {
	out := &specs.LinuxResources{}

	// Memory.
	if r.Memory < 0 {
		return nil, invalidf("invalid memory limit: %d", r.Memory)
	}
	if r.Memory != 0 && r.Memory < linuxMinMemory {
		return nil, invalidf("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return nil, invalidf("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.Memory == 0 && r.MemorySwap > 0 {
		return nil, invalidf("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if r.MemorySwap < -1 {
		return nil, invalidf("invalid memory swap limit: %d", r.MemorySwap)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness != -1 && (*r.MemorySwappiness < 0 || *r.MemorySwappiness > 100) {
		return nil, invalidf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}
	if r.MemoryReservation < 0 {
		return nil, invalidf("invalid memory reservation: %d", r.MemoryReservation)
	}
	if r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation {
		return nil, invalidf("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if r.MemoryReservation > 0 && r.MemoryReservation < linuxMinMemory {
		return nil, invalidf("Minimum memory reservation allowed is 6MB")
	}
	mem := &specs.LinuxMemory{}
	if r.Memory > 0 {
		mem.Limit = i64(r.Memory)
		if host.cgroups().SwapLimit {
			switch {
			case r.MemorySwap == 0:
				mem.Swap = i64(2 * r.Memory) // Docker: swap defaults to twice the memory
			case r.MemorySwap == -1:
				mem.Swap = i64(-1)
			default:
				mem.Swap = i64(r.MemorySwap)
			}
		}
	}
	if r.MemoryReservation > 0 {
		mem.Reservation = i64(r.MemoryReservation)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		mem.Swappiness = u64(uint64(*r.MemorySwappiness))
	}
	if r.OomKillDisable != nil {
		mem.DisableOOMKiller = boolp(*r.OomKillDisable)
	}
	if *mem != (specs.LinuxMemory{}) {
		out.Memory = mem
	}

	// CPU.
	cpu := &specs.LinuxCPU{}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return nil, invalidf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return nil, invalidf("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if n := int64(host.numCPU()); r.NanoCPUs < 0 || r.NanoCPUs > n*1e9 {
		return nil, invalidf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return nil, invalidf("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return nil, invalidf("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.CPUShares < 0 {
		return nil, invalidf("invalid CPU shares: %d (must be between %d and %d)", r.CPUShares, linuxMinCPUShares, linuxMaxCPUShares)
	}
	if r.CPUShares > 0 {
		shares := min(max(r.CPUShares, linuxMinCPUShares), linuxMaxCPUShares)
		cpu.Shares = u64(uint64(shares))
	}
	if r.NanoCPUs > 0 {
		cpu.Period = u64(cfsPeriod)
		cpu.Quota = i64(r.NanoCPUs * cfsPeriod / 1e9)
	}
	if r.CPUPeriod > 0 {
		cpu.Period = u64(uint64(r.CPUPeriod))
	}
	if r.CPUQuota != 0 {
		cpu.Quota = i64(r.CPUQuota)
	}
	if r.CPURealtimePeriod < 0 || r.CPURealtimeRuntime < 0 {
		return nil, invalidf("invalid CPU real-time period or runtime: must not be negative")
	}
	if r.CPURealtimePeriod > 0 && r.CPURealtimeRuntime > r.CPURealtimePeriod {
		return nil, invalidf("cpu-rt-runtime cannot be higher than cpu-rt-period")
	}
	if r.CPURealtimePeriod > 0 {
		cpu.RealtimePeriod = u64(uint64(r.CPURealtimePeriod))
	}
	if r.CPURealtimeRuntime > 0 {
		cpu.RealtimeRuntime = i64(r.CPURealtimeRuntime)
	}
	if r.CpusetCpus != "" {
		avail, err := host.onlineCPUs()
		if err != nil {
			return nil, fmt.Errorf("reading the online CPUs: %w", err)
		}
		ok, err := cpusetAvailable(r.CpusetCpus, avail)
		if err != nil {
			return nil, invalidf("Invalid value %s for cpuset cpus: %w", r.CpusetCpus, err)
		}
		if !ok {
			return nil, invalidf("Requested CPUs are not available - requested %s, available: %s", r.CpusetCpus, avail)
		}
		cpu.Cpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		avail, err := host.onlineMems()
		if err != nil {
			return nil, fmt.Errorf("reading the online memory nodes: %w", err)
		}
		ok, err := cpusetAvailable(r.CpusetMems, avail)
		if err != nil {
			return nil, invalidf("Invalid value %s for cpuset mems: %w", r.CpusetMems, err)
		}
		if !ok {
			return nil, invalidf("Requested memory nodes are not available - requested %s, available: %s", r.CpusetMems, avail)
		}
		cpu.Mems = r.CpusetMems
	}
	if !cpuEmpty(cpu) {
		out.CPU = cpu
	}

	// Pids: 0 and -1 (any value ≤ 0) mean unlimited.
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		out.Pids = &specs.LinuxPids{Limit: i64(*r.PidsLimit)}
	}

	// Block IO.
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return nil, invalidf("Range of blkio weight is from 10 to 1000")
	}
	bio := &specs.LinuxBlockIO{}
	if r.BlkioWeight > 0 && host.cgroups().BlkioWeight {
		bio.Weight = u16(r.BlkioWeight)
	}
	for _, wd := range r.BlkioWeightDevice {
		if wd == nil {
			continue
		}
		if wd.Weight < 10 || wd.Weight > 1000 {
			return nil, invalidf("invalid weight for device: %s", wd.String())
		}
		maj, mnr, err := blockDevice(wd.Path)
		if err != nil {
			return nil, err
		}
		d := specs.LinuxWeightDevice{Weight: u16(wd.Weight)}
		d.Major, d.Minor = maj, mnr
		bio.WeightDevice = append(bio.WeightDevice, d)
	}
	var err error
	if bio.ThrottleReadBpsDevice, err = throttleDevices(r.BlkioDeviceReadBps); err != nil {
		return nil, err
	}
	if bio.ThrottleWriteBpsDevice, err = throttleDevices(r.BlkioDeviceWriteBps); err != nil {
		return nil, err
	}
	if bio.ThrottleReadIOPSDevice, err = throttleDevices(r.BlkioDeviceReadIOps); err != nil {
		return nil, err
	}
	if bio.ThrottleWriteIOPSDevice, err = throttleDevices(r.BlkioDeviceWriteIOps); err != nil {
		return nil, err
	}
	if bio.Weight != nil || len(bio.WeightDevice) > 0 || len(bio.ThrottleReadBpsDevice) > 0 ||
		len(bio.ThrottleWriteBpsDevice) > 0 || len(bio.ThrottleReadIOPSDevice) > 0 || len(bio.ThrottleWriteIOPSDevice) > 0 {
		out.BlockIO = bio
	}
	return out, nil
}

func cpuEmpty(c *specs.LinuxCPU) bool {
	return c.Shares == nil && c.Quota == nil && c.Period == nil && c.RealtimePeriod == nil &&
		c.RealtimeRuntime == nil && c.Cpus == "" && c.Mems == ""
}

func blockDevice(p string) (int64, int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, 0, invalidf("error getting device %q: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, invalidf("%q is not a block device", p)
	}
	return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
}

func throttleDevices(tds []*blkiodev.ThrottleDevice) ([]specs.LinuxThrottleDevice, error) {
	var out []specs.LinuxThrottleDevice
	for _, td := range tds {
		if td == nil {
			continue
		}
		maj, mnr, err := blockDevice(td.Path)
		if err != nil {
			return nil, err
		}
		d := specs.LinuxThrottleDevice{Rate: td.Rate}
		d.Major, d.Minor = maj, mnr
		out = append(out, d)
	}
	return out, nil
}

// rlimitTypes maps Docker's ulimit names to the kernel's resources.
var rlimitTypes = map[string]int{
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"rttime":     unix.RLIMIT_RTTIME,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

func getHardLimit(resource int) (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(resource, &l); err != nil {
		return 0, err
	}
	return l.Max, nil
}

// rlimits converts HostConfig.Ulimits. berthd has no CAP_SYS_RESOURCE, so a
// hard limit above its own can never be set: it is lowered to berthd's hard
// limit (and the soft limit with it), instead of failing the start.
// -1 means unlimited.
func rlimits(uls []*container.Ulimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	seen := map[string]int{}
	for _, ul := range uls {
		if ul == nil {
			continue
		}
		name := strings.ToLower(ul.Name)
		res, ok := rlimitTypes[name]
		if !ok {
			return nil, invalidf("invalid ulimit type: %s", ul.Name)
		}
		soft, hard := toRlim(ul.Soft), toRlim(ul.Hard)
		if soft > hard {
			return nil, invalidf("ulimit soft limit must be less than or equal to hard limit: %d > %d", ul.Soft, ul.Hard)
		}
		if max, err := host.rlimitHard(res); err == nil && hard > max {
			hard = max
			soft = min(soft, hard)
		}
		rl := specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(name), Soft: soft, Hard: hard}
		if i, dup := seen[name]; dup { // the last one wins
			out[i] = rl
			continue
		}
		seen[name] = len(out)
		out = append(out, rl)
	}
	return out, nil
}

func toRlim(v int64) uint64 {
	if v < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64(v)
}

func devNum(v int64) *int64 { return &v }

// defaultDeviceRules: deny everything, then allow what Docker/runc allow by
// default (runc's AllowedDevices).
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	allow := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			r.Major = devNum(major)
		}
		if minor >= 0 {
			r.Minor = devNum(minor)
		}
		return r
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow("c", -1, -1, "m"),    // mknod any char device
		allow("b", -1, -1, "m"),    // mknod any block device
		allow("c", 1, 3, "rwm"),    // /dev/null
		allow("c", 1, 5, "rwm"),    // /dev/zero
		allow("c", 1, 7, "rwm"),    // /dev/full
		allow("c", 1, 8, "rwm"),    // /dev/random
		allow("c", 1, 9, "rwm"),    // /dev/urandom
		allow("c", 5, 0, "rwm"),    // /dev/tty
		allow("c", 5, 1, "rwm"),    // /dev/console
		allow("c", 5, 2, "rwm"),    // /dev/ptmx
		allow("c", 136, -1, "rwm"), // /dev/pts/*
	}
}

var deviceCgroupRuleRegex = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// parseDeviceCgroupRule parses "c 1:3 rwm" (HostConfig.DeviceCgroupRules).
func parseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := deviceCgroupRuleRegex.FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, invalidf("invalid device cgroup rule format: '%s'", rule)
	}
	d := specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Access: m[4]}
	for i, p := range []**int64{&d.Major, &d.Minor} {
		if m[2+i] == "*" {
			continue
		}
		v, err := strconv.ParseInt(m[2+i], 10, 64)
		if err != nil {
			return specs.LinuxDeviceCgroup{}, invalidf("invalid device cgroup rule format: '%s'", rule)
		}
		*p = devNum(v)
	}
	return d, nil
}

func validDeviceMode(mode string) bool {
	if mode == "" || len(mode) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if (c != 'r' && c != 'w' && c != 'm') || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// deviceFromPath stats a host device node; errNotADevice if it is not one.
func deviceFromPath(p string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return specs.LinuxDevice{}, err
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFCHR:
		typ = "c"
	default:
		return specs.LinuxDevice{}, errNotADevice
	}
	mode := os.FileMode(st.Mode &^ unix.S_IFMT)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path:     p,
		Type:     typ,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

var errNotADevice = fmt.Errorf("not a device node")

func deviceRule(d specs.LinuxDevice, perms string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: devNum(d.Major), Minor: devNum(d.Minor), Access: perms}
}
