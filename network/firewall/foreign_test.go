package firewall

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/nftables"
)

// TestForeignForwardDrops: in a scratch namespace holding iptables-nft's
// filter table with FORWARD policy drop and a DOCKER-USER chain, a native
// inet table dropping on forward and tables that do not matter here
// (accepting forward, dropping input, IPv6), only the two forward drops are
// reported, and nothing is changed.
func TestForeignForwardDrops(t *testing.T) {
	ns := newNS(t)
	c := nsConn(t, ns)
	drop, accept := nftables.ChainPolicyDrop, nftables.ChainPolicyAccept
	base := func(tb *nftables.Table, name string, hook *nftables.ChainHook, policy *nftables.ChainPolicy) {
		c.AddChain(&nftables.Chain{Name: name, Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: policy})
	}
	filter := c.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv4})
	base(filter, "FORWARD", nftables.ChainHookForward, &drop)
	base(filter, "INPUT", nftables.ChainHookInput, &drop)
	c.AddChain(&nftables.Chain{Name: "DOCKER-USER", Table: filter})
	fw := c.AddTable(&nftables.Table{Name: "fw", Family: nftables.TableFamilyINet})
	base(fw, "fwd", nftables.ChainHookForward, &drop)
	open := c.AddTable(&nftables.Table{Name: "open", Family: nftables.TableFamilyINet})
	base(open, "forward", nftables.ChainHookForward, &accept)
	six := c.AddTable(&nftables.Table{Name: "filter", Family: nftables.TableFamilyIPv6})
	base(six, "FORWARD", nftables.ChainHookForward, &drop)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		chains, err := c.ListChains()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, ch := range chains {
			if ch.Table.Name == TableName {
				continue
			}
			l := fmt.Sprintf("%d %s %s", ch.Table.Family, ch.Table.Name, ch.Name)
			if ch.Policy != nil {
				l += fmt.Sprintf(" policy %d", *ch.Policy)
			}
			rules, err := c.GetRules(ch.Table, ch)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("%s, %d rules", l, len(rules)))
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	}
	before := snapshot()

	f := newFirewall(t, ns)
	got, err := f.ForeignForwardDrops()
	if err != nil {
		t.Fatal(err)
	}
	want := []ForwardDrop{
		{Family: "inet", Table: "fw", Chain: "fwd"},
		{Family: "ip", Table: "filter", Chain: "FORWARD", DockerUser: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ForeignForwardDrops = %+v, want %+v", got, want)
	}
	if after := snapshot(); after != before {
		t.Fatalf("foreign chains changed:\n%s\nwere:\n%s", after, before)
	}

	// Berth's own table, and a namespace without foreign drops.
	clean := newFirewall(t, newNS(t))
	if got, err := clean.ForeignForwardDrops(); err != nil || len(got) != 0 {
		t.Fatalf("clean namespace: %+v %v", got, err)
	}
}

func TestForwardDropWarning(t *testing.T) {
	drops := []ForwardDrop{
		{Family: "inet", Table: "fw", Chain: "fwd"},
		{Family: "ip", Table: "filter", Chain: "FORWARD", DockerUser: true},
	}
	msg := ForwardDropWarning(drops, []string{"berth0", "br-0123456789ab"})
	for _, want := range []string{
		"table inet fw chain fwd, table ip filter chain FORWARD (hook forward, policy drop)",
		"bridges berth0, br-0123456789ab",
		`nft insert rule inet fw fwd iifname "berth0" accept && nft insert rule inet fw fwd oifname "berth0" accept`,
		"iptables -I DOCKER-USER -i berth0 -j ACCEPT && iptables -I DOCKER-USER -o berth0 -j ACCEPT",
		"likewise for br-0123456789ab",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("warning lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("warning spans lines:\n%s", msg)
	}
	// Without Docker's DOCKER-USER chain, FORWARD itself; without bridges
	// yet, the user networks' names.
	msg = ForwardDropWarning([]ForwardDrop{{Family: "ip", Table: "filter", Chain: "FORWARD"}}, nil)
	if want := "iptables -I FORWARD -i br-+ -j ACCEPT && iptables -I FORWARD -o br-+ -j ACCEPT"; !strings.Contains(msg, want) {
		t.Errorf("warning lacks %q:\n%s", want, msg)
	}
}
