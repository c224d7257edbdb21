// Package ipam manages the address space of Berth's networks: it picks a
// free subnet for a new network from the configured pools, and hands out
// container addresses inside a network's subnet (or ip-range), persisted in
// bbolt so that no address is handed out twice, even across a daemon crash.
//
// Allocation keeps a cursor per network and hands out the next free address
// after the last one allocated, wrapping around at the end of the range, as
// Docker does: an address just released is not reused at once (a peer's ARP
// cache or a connection may still point at it), and an allocation costs a
// few lookups, not a scan from the start of the range.
//
// The store knows subnets and addresses, not interfaces: the bridge driver
// puts the gateway on its bridge, the daemon maps owners to endpoints.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/berth-engine/berth/internal/txbatch"
)

// Network is a network's address configuration.
type Network struct {
	ID      string
	Subnet  netip.Prefix
	IPRange netip.Prefix // dynamic allocations come from here; zero: the whole subnet
	Gateway netip.Addr
}

// Store is the address store. Its methods are safe for concurrent use.
type Store struct {
	db *bolt.DB
	tx *txbatch.Committer // groups concurrent writes into one commit
}

// Open opens (creating if needed) the store's bbolt file at path. A second
// Open of the same file (another daemon on the same data root) fails after a
// second instead of hanging.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("ipam: open %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("ipam: init %s: %w", path, err)
	}
	return &Store{db: db, tx: txbatch.New(db)}, nil
}

// Close waits for writes in flight and closes the file.
func (s *Store) Close() error {
	s.tx.Close()
	return s.db.Close()
}

// AddNetwork records network id with its subnet, optional ipRange (zero: the
// whole subnet) and optional gateway (zero: the subnet's first host address),
// and returns the configuration as stored. A subnet overlapping another
// network's is refused with ErrPoolOverlap; the check and the write are one
// transaction, so two concurrent adds of the same subnet cannot both win.
func (s *Store) AddNetwork(id string, subnet, ipRange netip.Prefix, gateway netip.Addr) (Network, error) {
	cfg, err := validate(id, subnet, ipRange, gateway)
	if err != nil {
		return Network{}, err
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return Network{}, err
	}
	err = s.tx.Update(func(tx *bolt.Tx) error {
		nets, err := networksBucket(tx)
		if err != nil {
			return err
		}
		if nets.Bucket([]byte(id)) != nil {
			return fmt.Errorf("%w: %s", ErrNetworkExists, id)
		}
		if err := nets.ForEachBucket(func(k []byte) error {
			other, err := readConfig(nets.Bucket(k))
			if err != nil {
				return fmt.Errorf("network %s: %w", k, err)
			}
			if other.Subnet.Overlaps(cfg.Subnet) {
				return ErrPoolOverlap
			}
			return nil
		}); err != nil {
			return err
		}
		b, err := nets.CreateBucket([]byte(id))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketAddrs); err != nil {
			return err
		}
		return b.Put(keyConfig, data)
	})
	if err != nil {
		return Network{}, fmt.Errorf("ipam: add network %s (%s): %w", id, cfg.Subnet, err)
	}
	return cfg.network(id), nil
}

// validate normalizes and checks AddNetwork's arguments.
func validate(id string, subnet, ipRange netip.Prefix, gateway netip.Addr) (config, error) {
	if id == "" {
		return config{}, fmt.Errorf("%w: empty network id", ErrInvalid)
	}
	subnet, ipRange, gateway = normPrefix(subnet), normPrefix(ipRange), gateway.Unmap()
	if !subnet.IsValid() {
		return config{}, fmt.Errorf("%w: invalid subnet %s", ErrInvalid, subnet)
	}
	if subnet != subnet.Masked() {
		return config{}, fmt.Errorf("%w: invalid subnet %s: it should be %s", ErrInvalid, subnet, subnet.Masked())
	}
	if ipRange.IsValid() {
		if ipRange != ipRange.Masked() {
			return config{}, fmt.Errorf("%w: invalid ip-range %s: it should be %s", ErrInvalid, ipRange, ipRange.Masked())
		}
		if !contains(subnet, ipRange) {
			return config{}, fmt.Errorf("%w: ip-range %s is not within subnet %s", ErrInvalid, ipRange, subnet)
		}
	}
	if !gateway.IsValid() {
		gateway = subnet.Addr().Next()
	}
	if !subnet.Contains(gateway) || gateway == subnet.Addr() || (gateway.Is4() && gateway == lastAddr(subnet)) {
		return config{}, fmt.Errorf("%w: gateway %s is not a host address of subnet %s", ErrInvalid, gateway, subnet)
	}
	return config{Subnet: subnet, IPRange: ipRange, Gateway: gateway}, nil
}

func (c config) network(id string) Network {
	return Network{ID: id, Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway}
}

// RemoveNetwork forgets network id and all its allocations. The daemon
// refuses to remove a network with endpoints before it gets here.
func (s *Store) RemoveNetwork(id string) error {
	err := s.tx.Update(func(tx *bolt.Tx) error {
		nets, err := networksBucket(tx)
		if err != nil {
			return err
		}
		err = nets.DeleteBucket([]byte(id))
		if errors.Is(err, berrors.ErrBucketNotFound) {
			return fmt.Errorf("%w: %s", ErrNoSuchNetwork, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ipam: remove network: %w", err)
	}
	return nil
}

// Network returns network id's configuration.
func (s *Store) Network(id string) (Network, error) {
	var n Network
	err := s.db.View(func(tx *bolt.Tx) error {
		_, cfg, err := netBucket(tx, id)
		n = cfg.network(id)
		return err
	})
	if err != nil {
		return Network{}, fmt.Errorf("ipam: %w", err)
	}
	return n, nil
}

// Networks returns every network's configuration, by id order. The daemon
// compares it with its own networks at start and removes strays.
func (s *Store) Networks() ([]Network, error) {
	var out []Network
	err := s.db.View(func(tx *bolt.Tx) error {
		nets, err := networksBucket(tx)
		if err != nil {
			return err
		}
		return nets.ForEachBucket(func(k []byte) error {
			cfg, err := readConfig(nets.Bucket(k))
			if err != nil {
				return fmt.Errorf("network %s: %w", k, err)
			}
			out = append(out, cfg.network(string(k)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	return out, nil
}

// Allocate hands out an address of network networkID to owner (an endpoint or
// container id, reported back by Allocations). With want zero it is the next
// free address of the ip-range (or subnet) after the last one handed out;
// otherwise it is want itself, which must lie in the ip-range (or subnet) and
// be free. The network address, the IPv4 broadcast address and the gateway
// are never handed out. The allocation is committed before Allocate returns.
func (s *Store) Allocate(networkID, owner string, want netip.Addr) (netip.Addr, error) {
	if owner == "" {
		return netip.Addr{}, fmt.Errorf("ipam: allocate on %s: %w: empty owner", networkID, ErrInvalid)
	}
	want = want.Unmap()
	var got netip.Addr
	err := s.tx.Update(func(tx *bolt.Tx) error {
		nb, cfg, err := netBucket(tx, networkID)
		if err != nil {
			return err
		}
		addrs := nb.Bucket(bucketAddrs)
		if addrs == nil {
			return fmt.Errorf("ipam db: network %s: bucket %q missing", networkID, bucketAddrs)
		}
		if want.IsValid() {
			got, err = cfg.static(addrs, want)
		} else {
			got, err = cfg.next(addrs, nb.Get(keyNext))
		}
		if err != nil {
			return err
		}
		if err := addrs.Put(got.AsSlice(), []byte(owner)); err != nil {
			return err
		}
		if want.IsValid() {
			return nil // a static address does not move the cursor
		}
		return nb.Put(keyNext, got.Next().AsSlice())
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ipam: allocate on network %s: %w", networkID, err)
	}
	return got, nil
}

// pool is where dynamic allocations come from.
func (c config) pool() netip.Prefix {
	if c.IPRange.IsValid() {
		return c.IPRange
	}
	return c.Subnet
}

// reserved reports whether a is never handed out.
func (c config) reserved(a netip.Addr) bool {
	return a == c.Subnet.Addr() || a == c.Gateway || (a.Is4() && a == lastAddr(c.Subnet))
}

func (c config) static(addrs *bolt.Bucket, want netip.Addr) (netip.Addr, error) {
	if !c.pool().Contains(want) {
		return netip.Addr{}, errorf(ErrOutOfRange, "no configured subnet or ip-range contain the IP address %s", want)
	}
	if c.reserved(want) || addrs.Get(want.AsSlice()) != nil {
		return netip.Addr{}, errorf(ErrAddressInUse, "Address already in use: %s", want)
	}
	return want, nil
}

// next finds the first free address at or after the cursor, wrapping around
// once through the pool.
func (c config) next(addrs *bolt.Bucket, cursor []byte) (netip.Addr, error) {
	pool := c.pool()
	first, last := pool.Addr(), lastAddr(pool)
	start, ok := netip.AddrFromSlice(cursor)
	if !ok || !pool.Contains(start) {
		start = first
	}
	a := start
	for {
		if !c.reserved(a) && addrs.Get(a.AsSlice()) == nil {
			return a, nil
		}
		if a == last {
			a = first
		} else {
			a = a.Next()
		}
		if a == start {
			return netip.Addr{}, errorf(ErrNoAvailableIPs, "no available %s addresses on this network's address pools", family(a))
		}
	}
}

// Release gives addr of network networkID back. Releasing an address that is
// not allocated is not an error, so that undo paths and the start-up
// reconcile can release without checking first.
func (s *Store) Release(networkID string, addr netip.Addr) error {
	addr = addr.Unmap()
	err := s.tx.Update(func(tx *bolt.Tx) error {
		nb, _, err := netBucket(tx, networkID)
		if err != nil {
			return err
		}
		addrs := nb.Bucket(bucketAddrs)
		if addrs == nil {
			return fmt.Errorf("ipam db: network %s: bucket %q missing", networkID, bucketAddrs)
		}
		return addrs.Delete(addr.AsSlice())
	})
	if err != nil {
		return fmt.Errorf("ipam: release %s on network %s: %w", addr, networkID, err)
	}
	return nil
}

// Allocations returns network networkID's allocated addresses and their
// owners. The daemon calls it at start to release the addresses whose owners
// no longer exist (a crash between Allocate and the endpoint's commit, or
// between the endpoint's removal and Release).
func (s *Store) Allocations(networkID string) (map[netip.Addr]string, error) {
	out := make(map[netip.Addr]string)
	err := s.db.View(func(tx *bolt.Tx) error {
		nb, _, err := netBucket(tx, networkID)
		if err != nil {
			return err
		}
		addrs := nb.Bucket(bucketAddrs)
		if addrs == nil {
			return fmt.Errorf("ipam db: network %s: bucket %q missing", networkID, bucketAddrs)
		}
		return addrs.ForEach(func(k, v []byte) error {
			a, ok := netip.AddrFromSlice(k)
			if !ok {
				return fmt.Errorf("ipam db: network %s: bad address key %x", networkID, k)
			}
			out[a] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ipam: allocations of network %s: %w", networkID, err)
	}
	return out, nil
}
