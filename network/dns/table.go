package dns

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Table holds the names the embedded DNS answers, scoped by network: a
// container's name, its short ID and its aliases on each network it is
// attached to. A name registered on network "front" is only visible to
// containers attached to "front". Names are case-insensitive and stored
// without any domain, as Docker does; a trailing dot is ignored.
//
// Several registrations may share a name on one network (two containers with
// the alias "db"): their addresses are merged and a lookup returns them all.
//
// A Table is safe for concurrent use. The zero value is not usable; call
// NewTable.
type Table struct {
	mu   sync.RWMutex
	nets map[string]*netRecords
}

// netRecords is one network's part of the Table.
type netRecords struct {
	// names maps a lower-cased name to its addresses, in registration order.
	names map[string][]netip.Addr
	// ptr maps an address to the names registered for it with Add (not
	// AddAlias), in their original case; the first one answers PTR queries.
	ptr map[netip.Addr][]string
}

// NewTable returns an empty Table.
func NewTable() *Table {
	return &Table{nets: make(map[string]*netRecords)}
}

// Add registers name on network with addrs, and the reverse (PTR) record of
// each address back to name. Use it for a container's name; aliases and short
// IDs go through AddAlias so that PTR answers the container name. Invalid
// addresses are ignored, IPv4-mapped IPv6 addresses are unmapped, and an
// empty network or name is a no-op.
func (t *Table) Add(network, name string, addrs []netip.Addr) {
	t.add(network, name, addrs, true)
}

// AddAlias registers name on network with addrs like Add, without reverse
// records: a network-scoped alias or a short container ID.
func (t *Table) AddAlias(network, name string, addrs []netip.Addr) {
	t.add(network, name, addrs, false)
}

func (t *Table) add(network, name string, addrs []netip.Addr, ptr bool) {
	display := strings.TrimSuffix(name, ".")
	key := strings.ToLower(display)
	if network == "" || key == "" {
		return
	}
	clean := cleanAddrs(addrs)
	if len(clean) == 0 {
		return
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	nr := t.nets[network]
	if nr == nil {
		nr = &netRecords{
			names: make(map[string][]netip.Addr),
			ptr:   make(map[netip.Addr][]string),
		}
		t.nets[network] = nr
	}
	cur := nr.names[key]
	for _, a := range clean {
		if !slices.Contains(cur, a) {
			cur = append(cur, a)
		}
		if ptr && !slices.ContainsFunc(nr.ptr[a], func(n string) bool { return strings.EqualFold(n, display) }) {
			nr.ptr[a] = append(nr.ptr[a], display)
		}
	}
	nr.names[key] = cur
}

// Remove unregisters name on network. With addrs, only those addresses are
// removed from the name (the name stays while it has others: a shared alias
// survives the departure of one of its containers); without, the name goes
// entirely. Reverse records of the removed addresses that point at name go
// with them.
func (t *Table) Remove(network, name string, addrs ...netip.Addr) {
	key := normalizeName(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	nr := t.nets[network]
	if nr == nil {
		return
	}
	cur := nr.names[key]
	var gone []netip.Addr
	if len(addrs) == 0 {
		gone = cur
		delete(nr.names, key)
	} else {
		drop := cleanAddrs(addrs)
		gone = drop
		kept := slices.DeleteFunc(slices.Clone(cur), func(a netip.Addr) bool { return slices.Contains(drop, a) })
		if len(kept) == 0 {
			delete(nr.names, key)
		} else {
			nr.names[key] = kept
		}
	}
	for _, a := range gone {
		names := slices.DeleteFunc(slices.Clone(nr.ptr[a]), func(n string) bool { return strings.EqualFold(n, key) })
		if len(names) == 0 {
			delete(nr.ptr, a)
		} else {
			nr.ptr[a] = names
		}
	}
	if len(nr.names) == 0 && len(nr.ptr) == 0 {
		delete(t.nets, network)
	}
}

// RemoveNetwork drops every name registered on network.
func (t *Table) RemoveNetwork(network string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.nets, network)
}

// Lookup resolves name for a container attached to networks, in that order of
// preference: the addresses registered for name on the first of networks that
// has it. As in Docker, "name.network" is also understood, for any split of the
// dotted name whose right part is one of networks (compared case-insensitively),
// and then looks only in that network. It returns nil when no network has
// the name. The returned slice is the caller's.
func (t *Table) Lookup(networks []string, name string) []netip.Addr {
	key := normalizeName(name)
	if key == "" {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, n := range networks {
		if addrs := t.lookupIn(n, key); addrs != nil {
			return addrs
		}
	}
	// "a.b.c" may be "a.b" on network "c" or "a" on network "b.c".
	for i := len(key) - 1; i > 0; i-- {
		if key[i] != '.' {
			continue
		}
		host, netName := key[:i], key[i+1:]
		for _, n := range networks {
			if strings.EqualFold(n, netName) {
				if addrs := t.lookupIn(n, host); addrs != nil {
					return addrs
				}
			}
		}
	}
	return nil
}

// lookupIn returns a copy of key's addresses on network, or nil. t.mu is held.
func (t *Table) lookupIn(network, key string) []netip.Addr {
	nr := t.nets[network]
	if nr == nil {
		return nil
	}
	if addrs := nr.names[key]; len(addrs) > 0 {
		return slices.Clone(addrs)
	}
	return nil
}

// LookupAddr is the reverse lookup behind PTR answers: the name registered
// with Add for addr on the first of networks that has one, and that network.
// Docker answers PTR with "name.network", which is what the Resolver builds.
func (t *Table) LookupAddr(networks []string, addr netip.Addr) (name, network string, ok bool) {
	addr = addr.Unmap()
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, n := range networks {
		nr := t.nets[n]
		if nr == nil {
			continue
		}
		if names := nr.ptr[addr]; len(names) > 0 {
			return names[0], n, true
		}
	}
	return "", "", false
}

// cleanAddrs returns the valid addresses of addrs, unmapped and without zones
// or duplicates.
func cleanAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		a = a.Unmap().WithZone("")
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// normalizeName is a name as the Table keys it: lower case, no trailing dot.
func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
