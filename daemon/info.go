package daemon

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/api/types/sysinfo"
	"github.com/berth-engine/berth/container/spec"
	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/internal/version"
)

// SystemInfo answers GET /info with facts read from this host, plus the
// volume quota.
func (d *Daemon) SystemInfo(context.Context) (*sysinfo.Info, error) {
	cfg := d.Config()
	hostname, _ := os.Hostname()
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	inUse, max := d.volumes.Quota()
	cgVersion := cgroupVersion()
	cg := spec.Cgroups()
	initBinary, initCommit := d.initInfo()
	info := &sysinfo.Info{
		Info: system.Info{
			ID:                 d.id,
			Driver:             d.img.driver.String(),
			DriverStatus:       d.img.driver.Status(),
			Images:             d.img.images.Len(),
			Plugins:            system.PluginsInfo{Volume: d.volumes.Drivers(), Network: []string{}, Log: []string{}},
			MemoryLimit:        cg.MemoryLimit,
			SwapLimit:          cg.SwapLimit,
			CPUCfsPeriod:       cg.CPUCfs,
			CPUCfsQuota:        cg.CPUCfs,
			CPUShares:          cg.CPUShares,
			CPUSet:             cg.Cpuset,
			PidsLimit:          cg.PidsLimit,
			OomKillDisable:     cg.OomKillDisable,
			IPv4Forwarding:     ipv4Forwarding(),
			Debug:              cfg.Debug || d.log.IsLevelEnabled(5),
			NFd:                countFDs(),
			NGoroutines:        runtime.NumGoroutine(),
			SystemTime:         time.Now().Format(time.RFC3339Nano),
			LoggingDriver:      "json-file",
			CgroupDriver:       "cgroupfs",
			CgroupVersion:      cgVersion,
			NEventsListener:    0,
			KernelVersion:      kernelVersion(),
			OperatingSystem:    osRelease("PRETTY_NAME"),
			OSVersion:          osRelease("VERSION_ID"),
			OSType:             runtime.GOOS,
			Architecture:       machine(),
			IndexServerAddress: "https://index.docker.io/v1/",
			RegistryConfig:     registryConfig(cfg),
			NCPU:               runtime.NumCPU(),
			MemTotal:           int64(si.Totalram) * int64(si.Unit),
			DockerRootDir:      cfg.DataRoot,
			Name:               hostname,
			Labels:             append([]string{}, cfg.Labels...),
			ServerVersion:      version.Version,
			Swarm:              swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
			InitBinary:         initBinary,
			InitCommit:         initCommit,
			SecurityOptions:    []string{},
			Warnings:           []string{},
		},
		VolumeQuota: sysinfo.VolumeQuota{MaxVolumes: max, Volumes: inUse},
	}
	return info, nil
}

// registryConfig is /info's RegistryConfig, as Docker shows it: the
// insecure CIDRs (loopback always), Docker Hub's mirrors, and an index
// entry for docker.io (with the mirrors) and for each insecure registry
// named by host.
func registryConfig(cfg config.Config) *registry.ServiceConfig {
	cidrs, hosts, _ := config.ParseInsecureRegistries(cfg.InsecureRegistries)
	mirrorURLs, _ := config.ParseMirrors(cfg.RegistryMirrors)
	mirrors := make([]string, 0, len(mirrorURLs))
	for _, u := range mirrorURLs {
		mirrors = append(mirrors, u.String())
	}
	sc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: cidrs,
		IndexConfigs: map[string]*registry.IndexInfo{
			"docker.io": {Name: "docker.io", Mirrors: mirrors, Secure: true, Official: true},
		},
		Mirrors: mirrors,
	}
	for _, h := range hosts {
		sc.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: []string{}}
	}
	return sc
}

// SystemVersion answers GET /version.
func (d *Daemon) SystemVersion(context.Context) system.VersionResponse {
	kv := kernelVersion()
	details := map[string]string{
		"ApiVersion":    version.APIVersion,
		"MinAPIVersion": version.MinAPIVersion,
		"GitCommit":     version.GitCommit,
		"GoVersion":     runtime.Version(),
		"Os":            runtime.GOOS,
		"Arch":          runtime.GOARCH,
		"KernelVersion": kv,
		"BuildTime":     version.BuildTime,
		"Experimental":  "false",
	}
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Berth Engine"},
		Components:    []system.ComponentVersion{{Name: "Engine", Version: version.Version, Details: details}},
		Version:       version.Version,
		APIVersion:    version.APIVersion,
		MinAPIVersion: version.MinAPIVersion,
		GitCommit:     version.GitCommit,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kv,
		BuildTime:     version.BuildTime,
	}
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func machine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func osRelease(key string) string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

func ipv4Forwarding() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
