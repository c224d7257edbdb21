package spec_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-engine/berth/container/spec"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Generate the spec of `docker run --memory 64m --user nobody busybox echo hello`.
func ExampleGenerate() {
	// A stand-in for the mounted busybox rootfs.
	rootfs, _ := os.MkdirTemp("", "rootfs")
	defer os.RemoveAll(rootfs)
	_ = os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	_ = os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"), 0o644)
	_ = os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)

	s, err := spec.Generate(spec.Options{
		ID: "4f2a9c1d7e8b",
		Config: &container.Config{
			Image: "busybox",
			Cmd:   []string{"echo", "hello"},
			User:  "nobody",
		},
		HostConfig: &container.HostConfig{
			Resources: container.Resources{Memory: 64 << 20, MemorySwap: -1},
		},
		Rootfs:   rootfs,
		Hostname: "4f2a9c1d7e8b",
		Mounts: []specs.Mount{
			{Destination: "/etc/hosts", Type: "bind", Source: "/run/berth/4f2a9c1d7e8b/hosts", Options: []string{"rbind", "rprivate"}},
		},
		BoundingCaps: spec.DefaultCapabilities(), // usually spec.BoundingSet()
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("args:", s.Process.Args)
	fmt.Println("env:", s.Process.Env)
	fmt.Println("user:", s.Process.User.UID, s.Process.User.GID, "cwd:", s.Process.Cwd)
	fmt.Println("caps:", len(s.Process.Capabilities.Bounding), "seccomp:", s.Linux.Seccomp != nil)
	fmt.Println("cgroup:", s.Linux.CgroupsPath, "memory:", *s.Linux.Resources.Memory.Limit)
	for _, m := range s.Mounts {
		fmt.Println("mount:", m.Destination, m.Type)
	}
	_, err = spec.Generate(spec.Options{ID: "x", Config: &container.Config{Image: "busybox"}, Rootfs: rootfs, BoundingCaps: []string{}})
	fmt.Println("error:", err)
	// Output:
	// args: [echo hello]
	// env: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=4f2a9c1d7e8b]
	// user: 65534 65534 cwd: /
	// caps: 14 seccomp: true
	// cgroup: /berth/4f2a9c1d7e8b memory: 67108864
	// mount: /proc proc
	// mount: /dev tmpfs
	// mount: /sys sysfs
	// mount: /dev/pts devpts
	// mount: /dev/mqueue mqueue
	// mount: /dev/shm tmpfs
	// mount: /etc/hosts bind
	// mount: /sys/fs/cgroup cgroup
	// error: no command specified
}
