package spec

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func benchOptions(b *testing.B) Options {
	o := baseOptions(b)
	o.Config = &container.Config{
		Image: "busybox", Cmd: []string{"sh", "-c", "echo hi"}, User: "alice",
		Env: []string{"FOO=bar", "LANG=C.UTF-8"}, WorkingDir: "/srv",
	}
	o.HostConfig.Resources = container.Resources{Memory: 64 << 20, NanoCPUs: 5e8}
	o.HostConfig.Tmpfs = map[string]string{"/run": "size=64m"}
	o.Mounts = []specs.Mount{
		{Destination: "/etc/hosts", Type: "bind", Source: "/tmp/hosts", Options: []string{"rbind", "rprivate"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: "/tmp/resolv.conf", Options: []string{"rbind", "rprivate"}},
		{Destination: "/data", Type: "bind", Source: "/tmp/data", Options: []string{"rbind", "rprivate"}},
	}
	return o
}

// BenchmarkGenerate is Generate as on every container start (default
// seccomp profile, served from the per-capability-set cache).
func BenchmarkGenerate(b *testing.B) {
	b.Run("cached-seccomp", func(b *testing.B) {
		o := benchOptions(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Generate(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached-seccomp", func(b *testing.B) {
		o := benchOptions(b)
		b.ReportAllocs()
		for b.Loop() {
			seccompCacheMu.Lock()
			clear(seccompCache)
			seccompCacheMu.Unlock()
			if _, err := Generate(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unconfined", func(b *testing.B) {
		o := benchOptions(b)
		o.HostConfig.SecurityOpt = []string{"seccomp=unconfined"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Generate(o); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDefaultSeccompProfile is the conversion the cache avoids.
func BenchmarkDefaultSeccompProfile(b *testing.B) {
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: DefaultCapabilities()}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seccomp.GetDefaultProfile(s); err != nil {
			b.Fatal(err)
		}
	}
}
