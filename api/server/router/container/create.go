package container

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/image/platform"
)

// createBody is a create request as clients send it: the current
// CreateRequest plus the container-wide MacAddress of API < 1.44, which the
// types no longer carry.
type createBody struct {
	container.CreateRequest
	MacAddress string `json:",omitempty"`
}

const macDeprecated = "The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead."

// create is POST /containers/create?name=&platform=.
func (cr *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	name := r.Form.Get("name")
	if name != "" {
		if err := checkName(name); err != nil {
			return err
		}
	}
	if r.ContentLength == 0 {
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid JSON: got EOF while reading request body")
	}
	var body createBody
	if err := httputils.ReadJSON(r, &body); err != nil {
		return err
	}
	if body.Config == nil {
		return cerrdefs.ErrInvalidArgument.WithMessage("config cannot be empty in order to create a container")
	}
	hc, nc := body.HostConfig, body.NetworkingConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if nc == nil {
		nc = &network.NetworkingConfig{}
	}
	if nc.EndpointsConfig == nil {
		nc.EndpointsConfig = map[string]*network.EndpointSettings{}
	}
	// "default" is the platform's default network, bridge on Linux; name it
	// at once so that nothing further down has to know.
	if hc.NetworkMode == "" || hc.NetworkMode.IsDefault() {
		hc.NetworkMode = network.NetworkBridge
		if ep, ok := nc.EndpointsConfig[network.NetworkDefault]; ok {
			nc.EndpointsConfig[network.NetworkBridge] = ep
			delete(nc.EndpointsConfig, network.NetworkDefault)
		}
	}

	var plat *ocispec.Platform
	if v := r.Form.Get("platform"); v != "" && !versionBefore(ctx, "1.41") {
		p, err := platform.Parse(v)
		if err != nil {
			return err
		}
		plat = &p
	}

	warnings, err := cr.adjustCreate(ctx, body.Config, hc, nc, body.MacAddress)
	if err != nil {
		return err
	}
	if hc.PidsLimit != nil && *hc.PidsLimit <= 0 {
		// 0 and -1 (historically any negative value) are "unlimited".
		hc.PidsLimit = nil
	}

	resp, err := cr.b.ContainerCreate(ctx, CreateConfig{
		Name:             name,
		Config:           body.Config,
		HostConfig:       hc,
		NetworkingConfig: nc,
		Platform:         plat,
	})
	if err != nil {
		return err
	}
	resp.Warnings = append(resp.Warnings, warnings...)
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return httputils.WriteJSON(w, http.StatusCreated, resp)
}

// adjustCreate applies what older API versions meant by a create request,
// as Docker does: fields a version did not have are ignored, defaults that
// changed are restored, and combinations a version could not express are
// refused. It returns warnings for the response.
func (cr *Router) adjustCreate(ctx context.Context, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, mac string) ([]string, error) {
	before := func(v string) bool { return versionBefore(ctx, v) }
	if before("1.25") {
		// The client removed the container itself.
		hc.AutoRemove = false
	}
	if before("1.40") {
		for i := range hc.Mounts {
			if bo := hc.Mounts[i].BindOptions; bo != nil {
				bo.NonRecursive = false
			}
		}
		if hc.IpcMode.IsEmpty() {
			hc.IpcMode = container.IPCModeShareable
		}
	}
	if before("1.41") && !cr.cgroup2 && hc.CgroupnsMode.IsEmpty() {
		hc.CgroupnsMode = container.CgroupnsModeHost
	}
	if before("1.42") {
		for i := range hc.Mounts {
			m := &hc.Mounts[i]
			if m.BindOptions != nil {
				m.BindOptions.CreateMountpoint = false
			}
			// Invalid, but not refused before 1.42.
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				m.VolumeOptions = nil
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				m.TmpfsOptions = nil
			}
		}
		hc.ConsoleSize = [2]uint{0, 0}
	} else {
		for _, m := range hc.Mounts {
			if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("VolumeOptions must not be specified on mount type %q", m.Type))
			}
			if m.BindOptions != nil && m.Type != mount.TypeBind {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("BindOptions must not be specified on mount type %q", m.Type))
			}
			if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("TmpfsOptions must not be specified on mount type %q", m.Type))
			}
		}
	}
	if before("1.43") {
		hc.Annotations = nil
	}
	if before("1.44") {
		if cfg.Healthcheck != nil {
			cfg.Healthcheck.StartInterval = 0
		}
		for i := range hc.Mounts {
			m := &hc.Mounts[i]
			if m.Type != mount.TypeBind {
				continue
			}
			if m.BindOptions != nil && m.BindOptions.ReadOnlyForceRecursive {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage("BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer")
			}
			// Read-only bind mounts were not recursively read-only before 1.44.
			if m.ReadOnly {
				if m.BindOptions == nil {
					m.BindOptions = &mount.BindOptions{}
				}
				m.BindOptions.ReadOnlyNonRecursive = true
			}
		}
		if len(nc.EndpointsConfig) > 1 {
			l := make([]string, 0, len(nc.EndpointsConfig))
			for k := range nc.EndpointsConfig {
				l = append(l, k)
			}
			sort.Strings(l)
			return nil, cerrdefs.ErrInvalidArgument.WithMessage("Container cannot be created with multiple network endpoints: " + strings.Join(l, ", "))
		}
	}
	if before("1.45") {
		for _, m := range hc.Mounts {
			if m.VolumeOptions != nil && m.VolumeOptions.Subpath != "" {
				return nil, cerrdefs.ErrInvalidArgument.WithMessage("VolumeOptions.Subpath needs API v1.45 or newer")
			}
		}
	}
	var warnings []string
	warn, err := migrateMAC(before("1.44"), mac, hc, nc)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		warnings = append(warnings, warn)
	}
	return warnings, nil
}

// migrateMAC moves the container-wide MAC address into the endpoint of the
// container's main network, where API 1.44 put it.
func migrateMAC(legacy bool, mac string, hc *container.HostConfig, nc *network.NetworkingConfig) (string, error) {
	if mac == "" {
		if legacy {
			// Before 1.44 an endpoint's MAC address was ignored.
			for _, ep := range nc.EndpointsConfig {
				if ep != nil {
					ep.MacAddress = nil
				}
			}
		}
		return "", nil
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MAC address: %s", mac))
	}
	private := hc.NetworkMode.IsBridge() || hc.NetworkMode.IsUserDefined()
	if legacy {
		if !private {
			return "", cerrdefs.ErrInvalidArgument.WithMessage("conflicting options: mac-address and the network mode")
		}
		ep, err := endpointForMode(legacy, hc.NetworkMode, nc)
		if err != nil {
			return "", err
		}
		ep.MacAddress = network.HardwareAddr(hw)
		return "", nil
	}
	if private {
		ep, err := endpointForMode(legacy, hc.NetworkMode, nc)
		if err != nil {
			return "", fmt.Errorf("unable to migrate container-wide MAC address to a specific network: %w", err)
		}
		switch {
		case len(ep.MacAddress) == 0:
			ep.MacAddress = network.HardwareAddr(hw)
		case ep.MacAddress.String() != net.HardwareAddr(hw).String():
			return "", cerrdefs.ErrInvalidArgument.WithMessage("the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty")
		}
	}
	return macDeprecated, nil
}

// endpointForMode finds, or creates, the endpoint settings of the network
// NetworkMode names. With several endpoints none of which is under that
// name, which one is meant cannot be told.
func endpointForMode(legacy bool, mode container.NetworkMode, nc *network.NetworkingConfig) (*network.EndpointSettings, error) {
	name := mode.NetworkName()
	if len(nc.EndpointsConfig) == 0 {
		ep := &network.EndpointSettings{}
		nc.EndpointsConfig = map[string]*network.EndpointSettings{name: ep}
		return ep, nil
	}
	if ep, ok := nc.EndpointsConfig[name]; ok || legacy {
		if !ok {
			// API < 1.44 has a single endpoint: whatever it is keyed on,
			// it is the main network's.
			for k, e := range nc.EndpointsConfig {
				name, ep = k, e
			}
		}
		if ep == nil {
			ep = &network.EndpointSettings{}
			nc.EndpointsConfig[name] = ep
		}
		return ep, nil
	}
	return nil, cerrdefs.ErrInvalidArgument.WithMessage("HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks")
}
