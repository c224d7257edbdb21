package dns

import (
	"net/netip"
	"slices"
	"testing"
)

func TestTableLookupScopedByNetwork(t *testing.T) {
	tb := NewTable()
	tb.Add("front", "web", addrs("172.20.0.2"))
	tb.Add("back", "web", addrs("172.21.0.2"))
	tb.Add("back", "db", addrs("172.21.0.3"))

	if got := tb.Lookup([]string{"front"}, "web"); !slices.Equal(got, addrs("172.20.0.2")) {
		t.Errorf("web on front = %v", got)
	}
	// Preference follows the order of the container's networks.
	if got := tb.Lookup([]string{"back", "front"}, "web"); !slices.Equal(got, addrs("172.21.0.2")) {
		t.Errorf("web on back,front = %v", got)
	}
	if got := tb.Lookup([]string{"front"}, "db"); got != nil {
		t.Errorf("db is on back only, seen from front: %v", got)
	}
	if got := tb.Lookup(nil, "web"); got != nil {
		t.Errorf("no networks: %v", got)
	}
	if got := tb.Lookup([]string{"front"}, ""); got != nil {
		t.Errorf("empty name: %v", got)
	}
}

func TestTableCaseAndTrailingDot(t *testing.T) {
	tb := NewTable()
	tb.Add("front", "My-Web", addrs("172.20.0.2"))
	for _, q := range []string{"my-web", "MY-WEB", "my-web.", "My-Web."} {
		if got := tb.Lookup([]string{"front"}, q); !slices.Equal(got, addrs("172.20.0.2")) {
			t.Errorf("Lookup(%q) = %v", q, got)
		}
	}
	tb.Remove("front", "MY-WEB.")
	if got := tb.Lookup([]string{"front"}, "my-web"); got != nil {
		t.Errorf("after Remove: %v", got)
	}
}

func TestTableNameDotNetwork(t *testing.T) {
	tb := NewTable()
	tb.Add("front", "web", addrs("172.20.0.2"))
	tb.Add("my.net", "web", addrs("172.22.0.2"))
	tb.Add("back", "web", addrs("172.21.0.2"))
	nets := []string{"front", "my.net"}
	if got := tb.Lookup(nets, "web.my.net"); !slices.Equal(got, addrs("172.22.0.2")) {
		t.Errorf("web.my.net = %v", got)
	}
	if got := tb.Lookup(nets, "WEB.Front."); !slices.Equal(got, addrs("172.20.0.2")) {
		t.Errorf("WEB.Front. = %v", got)
	}
	// A network the container is not on stays invisible, even spelled out.
	if got := tb.Lookup(nets, "web.back"); got != nil {
		t.Errorf("web.back seen from front,my.net: %v", got)
	}
}

func TestTableSharedAliasAndRemove(t *testing.T) {
	tb := NewTable()
	tb.Add("front", "c1", addrs("172.20.0.2"))
	tb.AddAlias("front", "db", addrs("172.20.0.2"))
	tb.Add("front", "c2", addrs("172.20.0.3", "fd00::3"))
	tb.AddAlias("front", "db", addrs("172.20.0.3", "fd00::3", "::ffff:172.20.0.3", "172.20.0.3"))
	if got := tb.Lookup([]string{"front"}, "db"); !slices.Equal(got, addrs("172.20.0.2", "172.20.0.3", "fd00::3")) {
		t.Fatalf("shared alias = %v", got)
	}
	// c1 leaves: only its address goes from the shared alias.
	tb.Remove("front", "db", addrs("172.20.0.2")...)
	tb.Remove("front", "c1")
	if got := tb.Lookup([]string{"front"}, "db"); !slices.Equal(got, addrs("172.20.0.3", "fd00::3")) {
		t.Errorf("alias after c1 left = %v", got)
	}
	if _, _, ok := tb.LookupAddr([]string{"front"}, netip.MustParseAddr("172.20.0.2")); ok {
		t.Error("PTR of c1 survived its Remove")
	}
	tb.RemoveNetwork("front")
	if got := tb.Lookup([]string{"front"}, "c2"); got != nil {
		t.Errorf("after RemoveNetwork: %v", got)
	}
}

func TestTableIgnoresInvalid(t *testing.T) {
	tb := NewTable()
	tb.Add("", "web", addrs("172.20.0.2"))
	tb.Add("front", "", addrs("172.20.0.2"))
	tb.Add("front", "web", []netip.Addr{{}})
	tb.Remove("nope", "web")
	if len(tb.nets) != 0 {
		t.Errorf("table not empty: %v", tb.nets)
	}
}

func TestTableLookupAddr(t *testing.T) {
	tb := NewTable()
	tb.Add("front", "Web", addrs("172.20.0.2", "fd00::2"))
	tb.AddAlias("front", "www", addrs("172.20.0.2"))
	tb.AddAlias("front", "onlyalias", addrs("172.20.0.9"))
	name, network, ok := tb.LookupAddr([]string{"back", "front"}, netip.MustParseAddr("172.20.0.2"))
	if !ok || name != "Web" || network != "front" {
		t.Errorf("LookupAddr v4 = %q %q %v", name, network, ok)
	}
	if name, _, ok := tb.LookupAddr([]string{"front"}, netip.MustParseAddr("fd00::2")); !ok || name != "Web" {
		t.Errorf("LookupAddr v6 = %q %v", name, ok)
	}
	if _, _, ok := tb.LookupAddr([]string{"front"}, netip.MustParseAddr("172.20.0.9")); ok {
		t.Error("an alias answered PTR")
	}
	if _, _, ok := tb.LookupAddr([]string{"back"}, netip.MustParseAddr("172.20.0.2")); ok {
		t.Error("PTR answered on a network the container is not on")
	}
}

func TestParseReverse(t *testing.T) {
	for name, want := range map[string]string{
		"2.0.20.172.in-addr.arpa.": "172.20.0.2",
		"2.0.20.172.IN-ADDR.ARPA":  "172.20.0.2",
		"2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "fd00::2",
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.": "4321:0:1:2:3:4:567:89ab",
	} {
		got, ok := parseReverse(name)
		if !ok || got != netip.MustParseAddr(want) {
			t.Errorf("parseReverse(%q) = %v %v, want %s", name, got, ok, want)
		}
	}
	for _, name := range []string{
		"0.20.172.in-addr.arpa.", "256.0.20.172.in-addr.arpa.", "02.0.20.172.in-addr.arpa.",
		"x.0.20.172.in-addr.arpa.", "1.2.3.4.5.in-addr.arpa.", "web.", "d.f.ip6.arpa.",
	} {
		if got, ok := parseReverse(name); ok {
			t.Errorf("parseReverse(%q) = %v, want not an address", name, got)
		}
	}
}

func TestUpstreams(t *testing.T) {
	conf := []byte(`# generated by NetworkManager
search example.test
nameserver 192.0.2.53
nameserver 127.0.0.53
; nameserver 192.0.2.99
# nameserver 192.0.2.98
nameserver   2001:db8::53
nameserver fe80::1%eth0
nameserver 192.0.2.53
nameserver not-an-ip
nameserver
options edns0 trust-ad
nameserver ::1
`)
	want := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.53:53"),
		netip.MustParseAddrPort("127.0.0.53:53"),
		netip.MustParseAddrPort("[2001:db8::53]:53"),
		netip.MustParseAddrPort("[fe80::1%eth0]:53"),
		netip.MustParseAddrPort("[::1]:53"),
	}
	got := Upstreams(conf)
	if !slices.Equal(got, want) {
		t.Errorf("Upstreams = %v, want %v", got, want)
	}
	if got := NonLoopback(got); !slices.Equal(got, []netip.AddrPort{want[0], want[2], want[3]}) {
		t.Errorf("NonLoopback = %v", got)
	}
	if got := Upstreams(nil); got != nil {
		t.Errorf("Upstreams(nil) = %v", got)
	}
}
