package dns

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// All DNS traffic of these tests goes to servers the tests start on
// 127.0.0.x: the Resolver on 127.0.0.1 and fake upstreams on 127.0.0.2. The
// records the fake upstream serves use documentation addresses (192.0.2.0/24,
// 198.51.100.0/24) and the reserved .test TLD; nothing resolves them for
// real.

// listenPair opens UDP and TCP sockets on the same random port of ip.
func listenPair(t *testing.T, ip string) (*net.UDPConn, *net.TCPListener, netip.AddrPort) {
	t.Helper()
	a := netip.MustParseAddr(ip)
	for range 20 {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 0)))
		if err != nil {
			t.Fatalf("listen udp on %s: %v", ip, err)
		}
		ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		if err == nil {
			return pc, l, ap
		}
		pc.Close()
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("listen tcp on %s: %v", ap, err)
		}
	}
	t.Fatalf("no free port pair on %s", ip)
	return nil, nil, netip.AddrPort{}
}

// upstreamQuery is one query seen by a fakeUpstream.
type upstreamQuery struct {
	name  string
	proto string
	rd    bool
	id    uint16
}

// fakeUpstream is a small authoritative-looking resolver on 127.0.0.2.
type fakeUpstream struct {
	addr netip.AddrPort

	mu      sync.Mutex
	queries []upstreamQuery
}

// Names the fake upstream knows.
const (
	upKnown    = "known.test."   // A 192.0.2.1
	upBig      = "big.test."     // 60 A records; truncated (TC, empty) over UDP
	upServfail = "servfail.test" // SERVFAIL
	upBigCount = 60
)

func startFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	pc, l, addr := listenPair(t, "127.0.0.2")
	f := &fakeUpstream{addr: addr}
	h := dns.HandlerFunc(f.serve)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return f
}

func (f *fakeUpstream) serve(w dns.ResponseWriter, q *dns.Msg) {
	proto := "udp"
	if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	name := q.Question[0].Name
	f.mu.Lock()
	f.queries = append(f.queries, upstreamQuery{name: name, proto: proto, rd: q.RecursionDesired, id: q.Id})
	f.mu.Unlock()

	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.RecursionAvailable = true
	switch dns.CanonicalName(name) {
	case upKnown:
		if q.Question[0].Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, aRecord(name, "192.0.2.1"))
		}
	case upBig:
		if proto == "udp" {
			resp.Truncated = true
			break
		}
		for i := range upBigCount {
			resp.Answer = append(resp.Answer, aRecord(name, netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()))
		}
	case dns.Fqdn(upServfail):
		resp.Rcode = dns.RcodeServerFailure
	default:
		resp.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(resp)
}

func (f *fakeUpstream) seen() []upstreamQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upstreamQuery(nil), f.queries...)
}

func (f *fakeUpstream) saw(name string) bool {
	for _, q := range f.seen() {
		if dns.CanonicalName(q.name) == dns.CanonicalName(name) {
			return true
		}
	}
	return false
}

func aRecord(name, ip string) dns.RR {
	return &dns.A{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
		A:   net.ParseIP(ip),
	}
}

// startResolver serves a Resolver on a random port of 127.0.0.1 (UDP and TCP)
// and returns its address.
func startResolver(t *testing.T, table *Table, networks []string, upstreams []netip.AddrPort, opts ...Option) (*Resolver, netip.AddrPort) {
	t.Helper()
	pc, l, addr := listenPair(t, "127.0.0.1")
	r := NewResolver(table, networks, upstreams, opts...)
	if err := r.Start(pc, l); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r, addr
}

// ask sends one query of qtype for name over proto and returns the answer.
func ask(t *testing.T, proto string, server netip.AddrPort, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	return exchange(t, proto, server, q)
}

func exchange(t *testing.T, proto string, server netip.AddrPort, q *dns.Msg) *dns.Msg {
	t.Helper()
	resp, err := tryExchange(proto, server, q)
	if err != nil {
		t.Fatalf("%s query %s to %s: %v", proto, q.Question[0].Name, server, err)
	}
	return resp
}

func tryExchange(proto string, server netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(q, server.String())
	return resp, err
}

// answerAddrs returns the A and AAAA addresses of resp's answer section.
func answerAddrs(resp *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A)
			out = append(out, a.Unmap())
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA)
			out = append(out, a)
		}
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func sameAddrs(got, want []netip.Addr) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
