package ipam_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/berth-engine/berth/network/ipam"
)

// The daemon's path for the default bridge: pick a subnet that avoids the
// host's routes (here: Docker's docker0 on 172.17.0.0/16), record the
// network, then hand out container addresses.
func Example() {
	root, _ := os.MkdirTemp("", "ipam")
	defer os.RemoveAll(root)
	s, err := ipam.Open(filepath.Join(root, "network", "ipam.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	avoid := []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")} // in the daemon: ipam.HostPrefixes(nil)
	subnet, _ := s.PickSubnet(ipam.DefaultPools(), avoid)
	n, _ := s.AddNetwork("bridge", subnet, netip.Prefix{}, netip.Addr{})
	fmt.Println("subnet", n.Subnet, "gateway", n.Gateway)

	a, _ := s.Allocate("bridge", "endpoint-1", netip.Addr{})
	b, _ := s.Allocate("bridge", "endpoint-2", netip.Addr{})
	fmt.Println("dynamic", a, b)

	_, err = s.Allocate("bridge", "endpoint-3", b) // --ip of a taken address
	fmt.Println(errors.Is(err, ipam.ErrAddressInUse))

	_, err = s.AddNetwork("mynet", netip.MustParsePrefix("172.18.5.0/24"), netip.Prefix{}, netip.Addr{})
	fmt.Println(errors.Is(err, ipam.ErrPoolOverlap))
	// Output:
	// subnet 172.18.0.0/16 gateway 172.18.0.1
	// dynamic 172.18.0.2 172.18.0.3
	// true
	// true
}
