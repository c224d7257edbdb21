package spec

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRuncAcceptsSpec converts generated specs with runc's specconv, as
// berthd does, and runs libcontainer's config validation on them.
func TestRuncAcceptsSpec(t *testing.T) {
	for _, hc := range []container.HostConfig{
		{},
		{Privileged: true},
		{NetworkMode: "host", IpcMode: "host", PidMode: "host", UTSMode: "host"},
		{Tmpfs: map[string]string{"/run": "size=1m"}, Resources: container.Resources{Memory: 64 << 20, PidsLimit: func() *int64 { v := int64(64); return &v }(), DeviceCgroupRules: []string{"c 10:229 rwm"}}, CapAdd: []string{"NET_ADMIN"}},
	} {
		o := baseOptions(t)
		o.HostConfig = &hc
		o.BoundingCaps = nil
		s := mustGenerate(t, o)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/etc/hosts", Source: "/etc/hosts", Type: "bind", Options: []string{"rbind", "ro"}})
		cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: o.ID, Spec: s})
		if err != nil {
			t.Fatalf("%+v: %v", hc, err)
		}
		if err := validate.Validate(cfg); err != nil {
			t.Errorf("%+v: validate: %v", hc, err)
		}
	}
}
