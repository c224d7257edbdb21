package firewall

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// ForwardDrop is a base chain of another table on the IPv4 forward hook
// whose policy is drop, such as the FORWARD chain of iptables' filter table
// once Docker (or a host firewall) has set `iptables -P FORWARD DROP`.
// Every base chain on a hook must accept a packet for it to pass, so such a
// chain drops the containers' forwarded traffic that it does not accept
// itself, whatever Berth's table accepts.
type ForwardDrop struct {
	Family string // "ip" or "inet"
	Table  string
	Chain  string
	// DockerUser: the table has a DOCKER-USER chain (Docker's place for
	// the administrator's rules, which Docker's FORWARD jumps to first).
	DockerUser bool
}

func (d ForwardDrop) String() string {
	return fmt.Sprintf("table %s %s chain %s", d.Family, d.Table, d.Chain)
}

// iptables reports whether d is iptables-nft's filter FORWARD chain, which
// is best changed with iptables itself.
func (d ForwardDrop) iptables() bool {
	return d.Family == "ip" && d.Table == "filter" && d.Chain == "FORWARD"
}

// accept is the commands that accept the traffic of bridge in d's table;
// bridge "" stands for the bridges of user networks, br-<id>.
func (d ForwardDrop) accept(bridge string) string {
	if d.iptables() {
		if bridge == "" {
			bridge = "br-+"
		}
		chain := d.Chain
		if d.DockerUser {
			chain = "DOCKER-USER"
		}
		return fmt.Sprintf("iptables -I %s -i %s -j ACCEPT && iptables -I %s -o %s -j ACCEPT", chain, bridge, chain, bridge)
	}
	if bridge == "" {
		bridge = "br-*"
	}
	return fmt.Sprintf(`nft insert rule %[1]s %[2]s %[3]s iifname "%[4]s" accept && nft insert rule %[1]s %[2]s %[3]s oifname "%[4]s" accept`,
		d.Family, d.Table, d.Chain, bridge)
}

// ForeignForwardDrops lists, without changing anything, the base chains of
// other tables (families ip and inet, the ones IPv4 forwarding goes
// through) on the forward hook with policy drop, sorted. iptables-legacy
// rules are not nftables objects and are not seen.
func (f *Firewall) ForeignForwardDrops() ([]ForwardDrop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return nil, err
	}
	chains, err := f.conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("firewall: list chains: %w", unavailable(err))
	}
	return forwardDrops(chains), nil
}

// forwardDrops picks the ForwardDrops out of every chain of the ruleset.
func forwardDrops(chains []*nftables.Chain) []ForwardDrop {
	families := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyINet: "inet"}
	type tableKey struct {
		family nftables.TableFamily
		name   string
	}
	dockerUser := map[tableKey]bool{}
	for _, ch := range chains {
		if ch.Table != nil && ch.Name == "DOCKER-USER" {
			dockerUser[tableKey{ch.Table.Family, ch.Table.Name}] = true
		}
	}
	var out []ForwardDrop
	for _, ch := range chains {
		family, ok := "", false
		if ch.Table != nil {
			family, ok = families[ch.Table.Family]
		}
		switch {
		case !ok, ch.Hooknum == nil || *ch.Hooknum != unix.NF_INET_FORWARD,
			ch.Policy == nil || *ch.Policy != nftables.ChainPolicyDrop,
			ch.Table.Family == nftables.TableFamilyIPv4 && ch.Table.Name == TableName:
			continue
		}
		out = append(out, ForwardDrop{Family: family, Table: ch.Table.Name, Chain: ch.Name,
			DockerUser: dockerUser[tableKey{ch.Table.Family, ch.Table.Name}]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// ForwardDropWarning is the one line to log about drops when Berth forwards
// containers' traffic through bridges (none yet: the br-<id> bridges of
// user networks to come): which chains drop it, and how to let it through
// without weakening Berth's own rules.
func ForwardDropWarning(drops []ForwardDrop, bridges []string) string {
	first, named := "", "bridges br-<id> of user networks"
	switch len(bridges) {
	case 0:
	case 1:
		first, named = bridges[0], "bridge "+bridges[0]
	default:
		first, named = bridges[0], "bridges "+strings.Join(bridges, ", ")
	}
	var b strings.Builder
	for i, d := range drops {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	fmt.Fprintf(&b, " (hook forward, policy drop) will drop the traffic Berth forwards for containers"+
		" (%s) unless rules there accept it: every base chain on the hook must accept a packet,"+
		" whatever Berth's table ip %s allows. Berth does not change other tables; accept its bridges there, e.g. ",
		named, TableName)
	for i, d := range drops {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(d.accept(first))
	}
	if len(bridges) > 1 {
		fmt.Fprintf(&b, " (likewise for %s)", strings.Join(bridges[1:], ", "))
	}
	b.WriteString(". Berth's own table still isolates networks and filters published ports.")
	return b.String()
}
