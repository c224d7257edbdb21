package bridge

import (
	"net/netip"
	"testing"
)

func TestMACFromIP(t *testing.T) {
	for ip, want := range map[string]string{
		"172.17.0.2":   "02:42:ac:11:00:02",
		"10.0.255.254": "02:42:0a:00:ff:fe",
		"fd00::a:b0c":  "02:42:00:0a:0b:0c",
	} {
		if got := MACFromIP(netip.MustParseAddr(ip)).String(); got != want {
			t.Errorf("MACFromIP(%s) = %s, want %s", ip, got, want)
		}
	}
	if MACFromIP(netip.Addr{}) != nil {
		t.Error("MAC for the zero address")
	}
}
