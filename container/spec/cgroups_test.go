package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestProbeCgroups(t *testing.T) {
	touch := func(t *testing.T, root string, files ...string) {
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// v1 with memory (no swap accounting), cpu and pids mounted.
	v1 := t.TempDir()
	touch(t, v1, "memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes", "memory/memory.swappiness",
		"memory/memory.oom_control", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "pids/cgroup.procs")
	want := CgroupSupport{MemoryLimit: true, MemoryReservation: true, MemorySwappiness: true, OomKillDisable: true,
		CPUShares: true, CPUCfs: true, PidsLimit: true}
	if got := probeCgroups1(v1); got != want {
		t.Errorf("v1: %+v, want %+v", got, want)
	}

	// v2 whose root offers only hugetlb (a v2 mount beside v1 hierarchies).
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("hugetlb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := probeCgroups2(v2); got != (CgroupSupport{}) {
		t.Errorf("v2 without controllers: %+v", got)
	}
	os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte("cpu memory pids\n"), 0o644)
	want = CgroupSupport{MemoryLimit: true, SwapLimit: true, MemoryReservation: true, CPUShares: true, CPUCfs: true,
		Cpuset: true, PidsLimit: true, BlkioWeight: true}
	if got := probeCgroups2(v2); got != want {
		t.Errorf("v2: %+v, want %+v", got, want)
	}
}

func TestDiscardUnsupported(t *testing.T) {
	pl := func(v int64) *int64 { return &v }
	yes := true
	full := container.Resources{Memory: 64 << 20, MemoryReservation: 32 << 20, PidsLimit: pl(10), CPUShares: 512,
		CPUQuota: 50000, CpusetCpus: "0", BlkioWeight: 300, OomKillDisable: &yes}

	fakeHost(t, nil)
	r := full
	if w, err := DiscardUnsupported(&r); err != nil || len(w) != 0 || !reflect.DeepEqual(r, full) {
		t.Errorf("every controller present: %v %v %+v", w, err, r)
	}

	fakeHost(t, func(h *hostInfo) { h.cgroups = func() CgroupSupport { return CgroupSupport{} } })
	r = full
	w, err := DiscardUnsupported(&r)
	if err != nil {
		t.Fatal(err)
	}
	wantW := []string{
		"Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
		"Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.",
		"Your kernel does not support OomKillDisable. OomKillDisable discarded.",
		"Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
		"Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
		"Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.",
		"Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.",
		"Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
	}
	if !reflect.DeepEqual(w, wantW) {
		t.Errorf("warnings:\n%q\nwant\n%q", w, wantW)
	}
	if r.Memory != 0 || r.MemorySwap != -1 || r.PidsLimit != nil || r.CPUShares != 0 || r.CPUQuota != 0 || r.CpusetCpus != "" || r.BlkioWeight != 0 || r.OomKillDisable != nil {
		t.Errorf("not discarded: %+v", r)
	}

	// Memory without swap accounting: limited without swap.
	fakeHost(t, func(h *hostInfo) { h.cgroups = func() CgroupSupport { return CgroupSupport{MemoryLimit: true} } })
	r = container.Resources{Memory: 64 << 20}
	if w, _ := DiscardUnsupported(&r); len(w) != 1 || r.MemorySwap != -1 || r.Memory != 64<<20 {
		t.Errorf("no swap accounting: %q %+v", w, r)
	}
	// --cpus without CFS is refused.
	r = container.Resources{NanoCPUs: 5e8}
	if _, err := DiscardUnsupported(&r); err == nil || err.Error() != "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted" {
		t.Errorf("--cpus without CFS: %v", err)
	}
}
