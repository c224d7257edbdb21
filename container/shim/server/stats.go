//go:build linux && cgo

package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	shim "github.com/berth-engine/berth/container/shim/internal/proto"
)

func (s *server) stats() (*shim.Response, error) {
	st, err := s.ctr.Stats()
	if err != nil {
		return nil, err
	}
	var r statsResponse
	if cg := st.CgroupStats; cg != nil {
		r.CPUStats = CPUStats{
			CPUUsage: CPUUsage{
				TotalUsage:        cg.CpuStats.CpuUsage.TotalUsage,
				PercpuUsage:       cg.CpuStats.CpuUsage.PercpuUsage,
				UsageInKernelmode: cg.CpuStats.CpuUsage.UsageInKernelmode,
				UsageInUsermode:   cg.CpuStats.CpuUsage.UsageInUsermode,
			},
			ThrottlingData: ThrottlingData{
				Periods:          cg.CpuStats.ThrottlingData.Periods,
				ThrottledPeriods: cg.CpuStats.ThrottlingData.ThrottledPeriods,
				ThrottledTime:    cg.CpuStats.ThrottlingData.ThrottledTime,
			},
		}
		r.CPUStats.SystemUsage, r.CPUStats.OnlineCPUs = systemCPU()
		mem := cg.MemoryStats
		r.MemoryStats = MemoryStats{
			Usage:    mem.Usage.Usage,
			MaxUsage: mem.Usage.MaxUsage,
			Failcnt:  mem.Usage.Failcnt,
			Limit:    mem.Usage.Limit,
			Stats:    mem.Stats,
		}
		// An unlimited cgroup reports a huge number: Docker shows the host's
		// memory instead.
		if total := hostMemory(); total > 0 && (r.MemoryStats.Limit == 0 || r.MemoryStats.Limit > total) {
			r.MemoryStats.Limit = total
		}
		r.PidsStats = PidsStats{Current: cg.PidsStats.Current, Limit: cg.PidsStats.Limit}
		r.BlkioStats = BlkioStats{
			IoServiceBytesRecursive: blkio(cg.BlkioStats.IoServiceBytesRecursive),
			IoServicedRecursive:     blkio(cg.BlkioStats.IoServicedRecursive),
			IoQueuedRecursive:       blkio(cg.BlkioStats.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkio(cg.BlkioStats.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkio(cg.BlkioStats.IoWaitTimeRecursive),
			IoMergedRecursive:       blkio(cg.BlkioStats.IoMergedRecursive),
			IoTimeRecursive:         blkio(cg.BlkioStats.IoTimeRecursive),
			SectorsRecursive:        blkio(cg.BlkioStats.SectorsRecursive),
		}
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	return &shim.Response{Stats: b}, nil
}

// The parts of github.com/moby/moby/api/types/container.StatsResponse the
// shim fills, with the same JSON names: the client decodes them into the
// real type. (The moby types would drag go-digest's init into every
// container start.)
type (
	statsResponse struct {
		CPUStats    CPUStats    `json:"cpu_stats"`
		MemoryStats MemoryStats `json:"memory_stats"`
		PidsStats   PidsStats   `json:"pids_stats"`
		BlkioStats  BlkioStats  `json:"blkio_stats"`
	}
	CPUStats struct {
		CPUUsage       CPUUsage       `json:"cpu_usage"`
		SystemUsage    uint64         `json:"system_cpu_usage,omitempty"`
		OnlineCPUs     uint32         `json:"online_cpus,omitempty"`
		ThrottlingData ThrottlingData `json:"throttling_data"`
	}
	CPUUsage struct {
		TotalUsage        uint64   `json:"total_usage"`
		PercpuUsage       []uint64 `json:"percpu_usage,omitempty"`
		UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
		UsageInUsermode   uint64   `json:"usage_in_usermode"`
	}
	ThrottlingData struct {
		Periods          uint64 `json:"periods"`
		ThrottledPeriods uint64 `json:"throttled_periods"`
		ThrottledTime    uint64 `json:"throttled_time"`
	}
	MemoryStats struct {
		Usage    uint64            `json:"usage,omitempty"`
		MaxUsage uint64            `json:"max_usage,omitempty"`
		Stats    map[string]uint64 `json:"stats,omitempty"`
		Failcnt  uint64            `json:"failcnt,omitempty"`
		Limit    uint64            `json:"limit,omitempty"`
	}
	PidsStats struct {
		Current uint64 `json:"current,omitempty"`
		Limit   uint64 `json:"limit,omitempty"`
	}
	BlkioStatEntry struct {
		Major uint64 `json:"major"`
		Minor uint64 `json:"minor"`
		Op    string `json:"op"`
		Value uint64 `json:"value"`
	}
	BlkioStats struct {
		IoServiceBytesRecursive []BlkioStatEntry `json:"io_service_bytes_recursive"`
		IoServicedRecursive     []BlkioStatEntry `json:"io_serviced_recursive"`
		IoQueuedRecursive       []BlkioStatEntry `json:"io_queue_recursive"`
		IoServiceTimeRecursive  []BlkioStatEntry `json:"io_service_time_recursive"`
		IoWaitTimeRecursive     []BlkioStatEntry `json:"io_wait_time_recursive"`
		IoMergedRecursive       []BlkioStatEntry `json:"io_merged_recursive"`
		IoTimeRecursive         []BlkioStatEntry `json:"io_time_recursive"`
		SectorsRecursive        []BlkioStatEntry `json:"sectors_recursive"`
	}
)

func blkio(in []cgroups.BlkioStatEntry) []BlkioStatEntry {
	if in == nil {
		return nil
	}
	out := make([]BlkioStatEntry, len(in))
	for i, e := range in {
		out[i] = BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
	}
	return out
}

// systemCPU returns the host's cumulated CPU time in nanoseconds, as Docker
// computes system_cpu_usage from /proc/stat, and the number of online CPUs.
func systemCPU() (uint64, uint32) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	const clockTicks = 100 // USER_HZ on Linux
	var total uint64
	var cpus uint32
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") {
			if cpus > 0 {
				break
			}
			continue
		}
		if fields[0] == "cpu" {
			for _, v := range fields[1:min(len(fields), 8)] {
				n, _ := strconv.ParseUint(v, 10, 64)
				total += n
			}
			continue
		}
		cpus++
	}
	return total * (1e9 / clockTicks), cpus
}

func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// update applies new cgroup resources: the non-nil parts of r replace the
// current ones. Devices are never changed.
func (s *server) update(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit != nil {
		return conflictf("container is not running")
	}
	merged := mergeResources(s.resources, r)
	spec := *s.spec
	linux := *spec.Linux
	linux.Resources = merged
	spec.Linux = &linux
	cg, err := specconv.CreateCgroupConfig(&specconv.CreateOpts{CgroupName: s.opts.ID, Spec: &spec}, nil)
	if err != nil {
		return invalid(err)
	}
	cfg := s.ctr.Config()
	if cfg.Cgroups == nil || cfg.Cgroups.Resources == nil {
		return errors.New("update: container has no cgroup config")
	}
	newCg := *cfg.Cgroups
	res := *cg.Resources
	res.Devices = cfg.Cgroups.Resources.Devices
	res.SkipDevices = cfg.Cgroups.Resources.SkipDevices
	newCg.Resources = &res
	cfg.Cgroups = &newCg
	if err := s.ctr.Set(cfg); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	s.resources = merged
	return nil
}

func mergeResources(cur, r *specs.LinuxResources) *specs.LinuxResources {
	out := *cur
	if r.Memory != nil {
		m := specs.LinuxMemory{}
		if cur.Memory != nil {
			m = *cur.Memory
		}
		n := r.Memory
		if n.Limit != nil {
			m.Limit = n.Limit
		}
		if n.Reservation != nil {
			m.Reservation = n.Reservation
		}
		if n.Swap != nil {
			m.Swap = n.Swap
		}
		if n.Kernel != nil {
			m.Kernel = n.Kernel
		}
		if n.KernelTCP != nil {
			m.KernelTCP = n.KernelTCP
		}
		if n.Swappiness != nil {
			m.Swappiness = n.Swappiness
		}
		if n.DisableOOMKiller != nil {
			m.DisableOOMKiller = n.DisableOOMKiller
		}
		out.Memory = &m
	}
	if r.CPU != nil {
		c := specs.LinuxCPU{}
		if cur.CPU != nil {
			c = *cur.CPU
		}
		n := r.CPU
		if n.Shares != nil {
			c.Shares = n.Shares
		}
		if n.Quota != nil {
			c.Quota = n.Quota
		}
		if n.Period != nil {
			c.Period = n.Period
		}
		if n.RealtimeRuntime != nil {
			c.RealtimeRuntime = n.RealtimeRuntime
		}
		if n.RealtimePeriod != nil {
			c.RealtimePeriod = n.RealtimePeriod
		}
		if n.Cpus != "" {
			c.Cpus = n.Cpus
		}
		if n.Mems != "" {
			c.Mems = n.Mems
		}
		out.CPU = &c
	}
	if r.Pids != nil {
		out.Pids = r.Pids
	}
	if r.BlockIO != nil {
		out.BlockIO = r.BlockIO
	}
	return &out
}
