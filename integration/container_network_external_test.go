package integration

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/berth-engine/berth/internal/netnsdo"
)

// Traffic that leaves a container's network: outbound NAT, DNS forwarding
// and --add-host. "Outside" is always something this test builds: a
// network namespace it creates behind berthd's (the stand-in for the
// internet), or a DNS server it runs on 127.0.0.53 in berthd's namespace.
// Addresses are documentation ranges (198.51.100.0/24, 192.0.2.0/24) and
// names are under the reserved .test TLD.

// berthdNetns opens berthd's network namespace.
func (n *netDocker) berthdNetns() netns.NsHandle {
	n.t.Helper()
	cmd, _ := n.d.running()
	if cmd == nil {
		n.t.Fatal("berthd is not running")
	}
	h, err := netns.GetFromPid(cmd.Process.Pid)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { h.Close() })
	return h
}

// outside creates a network namespace wired to berthd's by a veth pair:
// berthd's side 198.51.100.1/24 (its "uplink", with the default route),
// the outside's 198.51.100.2/24. The namespace lives as long as a sleeping
// process the test kills at cleanup, and the veth pair goes with it.
func (n *netDocker) outside() netns.NsHandle {
	n.t.Helper()
	holder := exec.Command("unshare", "--net", "sleep", "600")
	if err := holder.Start(); err != nil {
		n.t.Skipf("unshare: %v", err)
	}
	n.t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	// unshare execs sleep once the namespace exists.
	var out netns.NsHandle
	waitFor(n.t, 5*time.Second, "the outside namespace", func() bool {
		own, err := netns.Get()
		if err != nil {
			return false
		}
		defer own.Close()
		h, err := netns.GetFromPid(holder.Process.Pid)
		if err != nil {
			return false
		}
		if h.Equal(own) {
			h.Close()
			return false
		}
		out = h
		return true
	})
	n.t.Cleanup(func() { out.Close() })
	pid := fmt.Sprint(holder.Process.Pid)
	for _, args := range [][]string{
		{"ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "wan0", "netns", pid},
		{"ip", "addr", "add", "198.51.100.1/24", "dev", "uplink0"},
		{"ip", "link", "set", "uplink0", "up"},
		{"ip", "route", "add", "default", "via", "198.51.100.2"},
	} {
		if r := n.inNS(args...); r.exitCode != 0 {
			n.t.Fatalf("%s", r)
		}
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", "198.51.100.2/24", "dev", "wan0"},
		{"ip", "link", "set", "wan0", "up"},
		{"ip", "link", "set", "lo", "up"},
	} {
		argv := append([]string{"--net=/proc/" + pid + "/ns/net"}, args...)
		if r := runCLI(n.t, os.Environ(), "nsenter", argv...); r.exitCode != 0 {
			n.t.Fatalf("%s", r)
		}
	}
	return out
}

// A container on the default bridge reaches a server outside berthd's
// namespace, masqueraded behind the uplink's address; one on an --internal
// network does not get out.
func TestContainerNetworkOutboundNAT(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not available")
	}
	n := newNetDocker(t)
	docker := n.docker
	out := n.outside()

	var ln net.Listener
	if err := netnsdo.Do(out, func() (err error) {
		ln, err = net.Listen("tcp4", "198.51.100.2:7777")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Write([]byte("hello from outside\n"))
			c.Close()
		}
	}()

	r := docker.run("run", "--rm", "busybox", "nc", "-w", "3", "198.51.100.2", "7777")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "hello from outside") {
		t.Fatalf("a container on the default bridge could not reach the outside: %s", r)
	}
	select {
	case peer := <-peers:
		if peer != "198.51.100.1" {
			t.Errorf("the outside saw the connection from %s, want the masqueraded 198.51.100.1", peer)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the outside saw no connection")
	}

	docker.ok("network", "create", "--internal", "sealed")
	if r := docker.run("run", "--rm", "--network", "sealed", "busybox", "nc", "-w", "2", "198.51.100.2", "7777"); r.exitCode == 0 {
		t.Errorf("a container on an --internal network got out: %s", r)
	}
	select {
	case peer := <-peers:
		t.Errorf("the outside saw a connection from %s off an --internal network", peer)
	default:
	}
	docker.ok("network", "rm", "sealed")
}

// On a user network the embedded DNS answers containers' names and
// forwards the rest to the --dns servers (here one this test runs on
// 127.0.0.53 in berthd's namespace); --add-host lands in /etc/hosts, with
// host-gateway standing for the default bridge's gateway.
func TestContainerNetworkDNSForwardAndHosts(t *testing.T) {
	t.Parallel()
	n := newNetDocker(t)
	docker := n.docker

	var pc net.PacketConn
	if err := netnsdo.Do(n.berthdNetns(), func() (err error) {
		pc, err = net.ListenPacket("udp4", "127.0.0.53:53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			mu.Lock()
			asked = append(asked, qq.Name)
			mu.Unlock()
			if qq.Name == "upstream.test." && qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.7")})
			}
		}
		if len(q.Question) == 1 && q.Question[0].Name != "upstream.test." {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	defer srv.Shutdown()

	docker.ok("network", "create", "lan")
	docker.ok("run", "-d", "--name", "db", "--network", "lan", "busybox", "sleep", "300")
	r := docker.run("run", "--rm", "--network", "lan", "--dns", "127.0.0.53", "busybox", "busybox", "nslookup", "upstream.test")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "192.0.2.7") {
		t.Errorf("nslookup upstream.test through the embedded DNS: %s", r)
	}
	mu.Lock()
	got := strings.Join(asked, " ")
	mu.Unlock()
	if !strings.Contains(got, "upstream.test.") {
		t.Errorf("the upstream was asked %q", got)
	}
	// Container names are answered locally, never forwarded.
	r = docker.run("run", "--rm", "--network", "lan", "--dns", "127.0.0.53", "busybox", "busybox", "nslookup", "db")
	if r.exitCode != 0 || !strings.Contains(r.stdout, "Address") {
		t.Errorf("nslookup db: %s", r)
	}
	mu.Lock()
	got = strings.Join(asked, " ")
	mu.Unlock()
	if strings.Contains(got, "db.") {
		t.Errorf("a container's name went to the upstream: %q", got)
	}

	gw := netip.MustParseAddr(docker.out("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"))
	hosts := docker.out("run", "--rm", "--add-host", "one.test:192.0.2.1", "--add-host", "host.docker.internal:host-gateway", "busybox", "cat", "/etc/hosts")
	for _, want := range []string{"192.0.2.1\tone.test", gw.String() + "\thost.docker.internal"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("/etc/hosts lacks %q:\n%s", want, hosts)
		}
	}
	docker.ok("rm", "-f", "db")
	docker.ok("network", "rm", "lan")
}
