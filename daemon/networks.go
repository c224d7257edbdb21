package daemon

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/network/ipam"
)

// openNetwork opens the network subsystem under <data-root>/network with
// the daemon's network settings.
func openNetwork(cfg config.Config, log *logrus.Logger) (*network.Controller, error) {
	nc := network.Config{
		Root:            filepath.Join(cfg.DataRoot, "network"),
		DefaultBridge:   cfg.Bridge,
		MTU:             cfg.MTU,
		ICC:             config.On(cfg.ICC),
		NoUserlandProxy: !config.On(cfg.UserlandProxy),
		NoForwarding:    !config.On(cfg.IPForward),
		NoFirewall:      !config.On(cfg.IPTables),
		Log:             log.WithField("subsystem", "network"),
	}
	if cfg.BIP != "" {
		p, err := netip.ParsePrefix(cfg.BIP)
		if err != nil {
			return nil, fmt.Errorf("invalid bip %q: %w", cfg.BIP, err)
		}
		nc.BIP = p
	}
	for _, p := range cfg.DefaultAddressPools {
		base, err := netip.ParsePrefix(p.Base)
		if err != nil {
			return nil, fmt.Errorf("invalid default-address-pools base %q: %w", p.Base, err)
		}
		nc.Pools = append(nc.Pools, ipam.Pool{Base: base, Size: p.Size})
	}
	c, err := network.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening the network subsystem: %w", err)
	}
	return c, nil
}
