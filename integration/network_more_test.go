package integration

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
)

// A user network shows the -o options it was given, and nothing else
// ({} without -o), in inspect and in the list; its generated bridge still
// exists. The default bridge keeps Docker's set (see TestNetworkBuiltins).
func TestNetworkOptionsAsGiven(t *testing.T) {
	t.Parallel()
	d, docker := newNetworkDaemon(t)

	plain := strings.TrimSpace(docker.ok("network", "create", "plain"))
	docker.ok("network", "create", "-o", "com.docker.network.driver.mtu=1400", "tuned")
	if got := strings.TrimSpace(docker.ok("network", "inspect", "--format", "{{json .Options}}", "plain")); got != "{}" {
		t.Errorf("plain's Options: %s, want {}", got)
	}
	if got := strings.TrimSpace(docker.ok("network", "inspect", "--format", "{{json .Options}}", "tuned")); got != `{"com.docker.network.driver.mtu":"1400"}` {
		t.Errorf("tuned's Options: %s", got)
	}
	r := d.do("GET", "/v1.44/networks", nil)
	expectStatus(t, r, 200, "GET /networks")
	var list []network.Summary
	r.decode(t, &list)
	seen := 0
	for _, n := range list {
		switch n.Name {
		case "plain":
			seen++
			if n.Options == nil || len(n.Options) != 0 {
				t.Errorf("plain in the list: Options %v", n.Options)
			}
		case "bridge":
			seen++
			if n.Options["com.docker.network.bridge.name"] != "berth0" || n.Options["com.docker.network.bridge.default_bridge"] != "true" {
				t.Errorf("bridge in the list: Options %v", n.Options)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("GET /networks lacks plain or bridge: %s", r.body)
	}
	if links := d.nsLinks(t); !strings.Contains(links, " br-"+plain[:12]+": ") {
		t.Errorf("plain's bridge br-%s is not in berthd's namespace:\n%s", plain[:12], links)
	}
}

// docker ps --filter network= matches any network a container is on, by
// name or by a prefix of its ID, as Docker's: the network of its --network,
// the networks docker network connect recorded (stopped) or joined
// (running), the builtin ones; several values are alternatives.
func TestContainerListNetworkFilter(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker

	front := strings.TrimSpace(docker.ok("network", "create", "front"))
	docker.ok("network", "create", "back")
	docker.ok("run", "-d", "--name", "web", "--network", "front", "busybox", "sleep", "300")
	docker.ok("create", "--name", "api", "--network", "back", "busybox", "sleep", "300")
	docker.ok("network", "connect", "front", "api")
	docker.ok("create", "--name", "db", "--network", "back", "busybox", "sleep", "300")
	docker.ok("run", "-d", "--name", "plain", "busybox", "sleep", "300")
	docker.ok("create", "--name", "alone", "--network", "none", "busybox", "true")
	docker.ok("create", "--name", "hosted", "--network", "host", "busybox", "true")

	ps := func(args ...string) string {
		t.Helper()
		names := lines(docker.ok(append([]string{"ps", "--format", "{{.Names}}"}, args...)...))
		slices.Sort(names) // ps lists newest first
		return strings.Join(names, " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "--filter", "network=front"}, "api web"},
		{[]string{"-a", "--filter", "network=" + front}, "api web"},
		{[]string{"-a", "--filter", "network=" + front[:6]}, "api web"},
		{[]string{"-a", "--filter", "network=back"}, "api db"},
		{[]string{"-a", "--filter", "network=bridge"}, "plain"},
		{[]string{"-a", "--filter", "network=none"}, "alone"},
		{[]string{"-a", "--filter", "network=host"}, "hosted"},
		{[]string{"-a", "--filter", "network=back", "--filter", "network=none"}, "alone api db"},
		{[]string{"-a", "--filter", "network=nope"}, ""},
		{[]string{"--filter", "network=front"}, "web"}, // running only
	} {
		if got := ps(tc.args...); got != tc.want {
			t.Errorf("docker ps %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	// Started, api joins front as a second interface and is still found
	// through it, by name and by ID.
	docker.ok("start", "api")
	if got := ps("--filter", "network=front"); got != "api web" {
		t.Errorf("running on front: %q, want \"api web\"", got)
	}
	if got := ps("--filter", "network="+front[:12]); got != "api web" {
		t.Errorf("running on front by ID: %q, want \"api web\"", got)
	}

	// The API answers the same.
	r := n.d.do("GET", "/v1.44/containers/json?all=1&"+filtersQuery(map[string][]string{"network": {"back"}}), nil)
	expectStatus(t, r, 200, "GET /containers/json filtered by network")
	var list []struct{ Names []string }
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 2 {
		t.Errorf("GET /containers/json?filters=network=back: %s", r.body)
	}
	docker.ok("rm", "-f", "web", "api", "db", "plain", "alone", "hosted")
	docker.ok("network", "rm", "front", "back")
}
