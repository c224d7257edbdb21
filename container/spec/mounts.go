package spec

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultShmSize is the size of /dev/shm when HostConfig.ShmSize is 0 (64 MiB).
const DefaultShmSize int64 = 64 << 20

// defaultTmpfsOptions are always applied to HostConfig.Tmpfs mounts, before
// the user's options (which may override them, e.g. "exec").
var defaultTmpfsOptions = []string{"noexec", "nosuid", "nodev", "rprivate"}

// defaultMounts is Docker's oci/defaults.go mount list, with /dev/shm set up
// here (Docker bind-mounts a per-container shm tmpfs; berth mounts the tmpfs
// directly) and /sys, /sys/fs/cgroup writable for privileged containers.
func defaultMounts(hc *container.HostConfig, so securityOptions) ([]specs.Mount, error) {
	shmSize := hc.ShmSize
	if shmSize < 0 {
		return nil, invalidf("SHM size can not be less than 0")
	}
	if shmSize == 0 {
		shmSize = DefaultShmSize
	}
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	if hc.Privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev"}
	}
	cgroupOpts := []string{"ro", "nosuid", "noexec", "nodev"}
	writableCgroups := hc.Privileged
	if so.writableCgroups != nil {
		writableCgroups = *so.writableCgroups
	}
	if writableCgroups {
		cgroupOpts = []string{"nosuid", "noexec", "nodev"}
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgroupOpts},
	}
	switch {
	case hc.IpcMode.IsNone():
		// Docker: no /dev/shm and no /dev/mqueue with --ipc=none.
	case hc.IpcMode.IsHost():
		mq := specs.Mount{Destination: "/dev/mqueue", Type: "bind", Source: "/dev/mqueue", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
		if _, err := os.Stat("/dev/mqueue"); err != nil {
			// The host mounts no mqueue to share: a new one, made in the
			// host's IPC namespace, shows the same queues.
			mq = specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}}
		}
		ms = append(ms, mq,
			specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}},
		)
	default:
		ms = append(ms,
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}},
		)
	}
	return ms, nil
}

// tmpfsMounts turns HostConfig.Tmpfs into mounts, sorted by destination.
// Options: "noexec,nosuid,nodev,rprivate" then the user's, merged like
// Docker (mount.MergeTmpfsOptions: the last of conflicting options wins).
func tmpfsMounts(tmpfs map[string]string) ([]specs.Mount, error) {
	dests := make([]string, 0, len(tmpfs))
	for d := range tmpfs {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	var ms []specs.Mount
	for _, dest := range dests {
		if err := validateTmpfsDestination(dest); err != nil {
			return nil, err
		}
		opts := slices.Clone(defaultTmpfsOptions)
		if data := tmpfs[dest]; data != "" {
			opts = append(opts, strings.Split(data, ",")...)
		}
		merged, err := mount.MergeTmpfsOptions(opts)
		if err != nil {
			return nil, invalid(err)
		}
		ms = append(ms, specs.Mount{Destination: path.Clean(dest), Type: "tmpfs", Source: "tmpfs", Options: merged})
	}
	return ms, nil
}

func validateTmpfsDestination(dest string) error {
	if filepath.Clean(dest) == "/" {
		return invalidf("invalid specification: destination can't be '/'")
	}
	if !filepath.IsAbs(dest) {
		return invalidf("invalid mount path: '%s' mount path must be absolute", dest)
	}
	return nil
}

// mergeMounts combines the default mounts with the daemon's mounts and the
// tmpfs mounts as Docker's WithMounts does: a user mount on a destination
// replaces the default there, a user /dev drops the default mounts under
// /dev; the result is sorted so that parents come before children (stable:
// same-depth mounts keep their order, defaults first).
func mergeMounts(defaults, user, tmpfs []specs.Mount) ([]specs.Mount, error) {
	userDests := make(map[string]bool, len(user)+len(tmpfs))
	for _, m := range user {
		userDests[path.Clean(m.Destination)] = true
	}
	for _, m := range tmpfs {
		if userDests[m.Destination] {
			return nil, invalidf("Duplicate mount point: %s", m.Destination)
		}
		userDests[m.Destination] = true
	}
	mountDev := userDests["/dev"]
	out := make([]specs.Mount, 0, len(defaults)+len(user)+len(tmpfs))
	for _, m := range defaults {
		if userDests[m.Destination] {
			continue
		}
		if mountDev && strings.HasPrefix(m.Destination, "/dev/") {
			continue
		}
		out = append(out, m)
	}
	out = append(out, user...)
	out = append(out, tmpfs...)
	sort.SliceStable(out, func(i, j int) bool {
		return mountDepth(out[i].Destination) < mountDepth(out[j].Destination)
	})
	return out, nil
}

// mountDepth is the number of path components: "/" 0, "/a" 1, "/a/b" 2.
func mountDepth(p string) int {
	p = path.Clean("/" + p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// rootfsPropagation is Docker's rule: a shared mount needs a shared rootfs,
// a slave mount at least a slave one.
func rootfsPropagation(ms []specs.Mount) string {
	prop := ""
	for _, m := range ms {
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared":
				return "shared"
			case "slave", "rslave":
				prop = "rslave"
			}
		}
	}
	return prop
}
