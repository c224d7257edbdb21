package container

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

func TestLegacyNetworkSettings(t *testing.T) {
	mac, _ := net.ParseMAC("02:42:ac:11:00:02")
	c := &container.InspectResponse{ID: "abc", Name: "/web", NetworkSettings: &container.NetworkSettings{
		SandboxKey: "/proc/1/ns/net",
		Networks: map[string]*network.EndpointSettings{
			"bridge": {EndpointID: "ep1", IPAddress: netip.MustParseAddr("172.17.0.2"), IPPrefixLen: 16,
				Gateway: netip.MustParseAddr("172.17.0.1"), MacAddress: network.HardwareAddr(mac)},
			"app": {IPAddress: netip.MustParseAddr("10.0.0.2")},
		},
	}}
	buf, err := json.Marshal(withLegacyNetworkSettings(c))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID              string `json:"Id"`
		Name            string
		NetworkSettings map[string]any
	}
	if err := json.Unmarshal(buf, &got); err != nil {
		t.Fatal(err)
	}
	ns := got.NetworkSettings
	if got.ID != "abc" || got.Name != "/web" {
		t.Errorf("the rest of the response is lost: %s", buf)
	}
	for k, want := range map[string]any{"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1", "IPPrefixLen": 16.0,
		"MacAddress": "02:42:ac:11:00:02", "EndpointID": "ep1", "SandboxKey": "/proc/1/ns/net", "Bridge": "", "HairpinMode": false} {
		if ns[k] != want {
			t.Errorf("NetworkSettings.%s = %#v, want %#v", k, ns[k], want)
		}
	}
	if nets, _ := ns["Networks"].(map[string]any); len(nets) != 2 {
		t.Errorf("Networks: %v", ns["Networks"])
	}
	if strings.Count(string(buf), `"NetworkSettings"`) != 1 {
		t.Errorf("NetworkSettings twice: %s", buf)
	}

	// Not on the default bridge: the fields are there, empty.
	c.NetworkSettings.Networks = map[string]*network.EndpointSettings{"app": {IPAddress: netip.MustParseAddr("10.0.0.2")}}
	buf, _ = json.Marshal(withLegacyNetworkSettings(c))
	if !strings.Contains(string(buf), `"IPAddress":"","IPPrefixLen":0`) {
		t.Errorf("off the default bridge: %s", buf)
	}
}
