package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// devicesFromMapping resolves one HostConfig.Devices entry like Docker's
// oci.DevicesFromPath: a device node, or a directory whose device nodes are
// all added (e.g. /dev/snd), each with a cgroup allow rule.
func devicesFromMapping(dm container.DeviceMapping) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	perms := dm.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	if !validDeviceMode(perms) {
		return nil, nil, invalidf("invalid device mode: %s", dm.CgroupPermissions)
	}
	pathInContainer := dm.PathInContainer
	if pathInContainer == "" {
		pathInContainer = dm.PathOnHost
	}
	if !filepath.IsAbs(pathInContainer) {
		return nil, nil, invalidf("invalid device path in container: %q must be absolute", pathInContainer)
	}
	resolved := dm.PathOnHost
	if fi, err := os.Lstat(resolved); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(resolved); err == nil {
			resolved = p
		}
	}
	d, err := host.deviceAtPath(resolved)
	if err == nil {
		d.Path = pathInContainer
		return []specs.LinuxDevice{d}, []specs.LinuxDeviceCgroup{deviceRule(d, perms)}, nil
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	if errors.Is(err, errNotADevice) {
		if fi, e := os.Stat(resolved); e == nil && fi.IsDir() {
			_ = filepath.WalkDir(resolved, func(p string, _ fs.DirEntry, _ error) error {
				cd, e := host.deviceAtPath(p)
				if e != nil {
					return nil
				}
				cd.Path = strings.Replace(p, resolved, pathInContainer, 1)
				devs = append(devs, cd)
				rules = append(rules, deviceRule(cd, perms))
				return nil
			})
		}
	}
	if len(devs) > 0 {
		return devs, rules, nil
	}
	return nil, nil, invalidf("error gathering device information while adding custom device %q: %s", dm.PathOnHost, err)
}

// hostDevices lists the host's /dev device nodes for privileged containers,
// skipping what runc skips (pts, shm, fd, mqueue, console and friends).
func hostDevices() ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "/dev" {
				return err
			}
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "console" || d.Type()&fs.ModeDevice == 0 {
			return nil
		}
		dev, e := deviceFromPath(p)
		if e != nil {
			return nil
		}
		out = append(out, dev)
		return nil
	})
	return out, err
}
