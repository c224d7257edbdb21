package dns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/miekg/dns"
)

// testTable is the Table of a small deployment: web and db on "front", db
// also on "back", and "secret" only on "back".
func testTable() *Table {
	tb := NewTable()
	tb.Add("front", "web", addrs("172.20.0.2"))
	tb.AddAlias("front", "www", addrs("172.20.0.2"))
	tb.AddAlias("front", "0123456789ab", addrs("172.20.0.2")) // short ID
	tb.Add("front", "db", addrs("172.20.0.3", "fd00:20::3"))
	tb.Add("back", "db", addrs("172.21.0.3"))
	tb.Add("back", "secret", addrs("172.21.0.4"))
	return tb
}

func TestResolverAnswersContainerNames(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})

	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []netip.Addr
	}{
		{"web", dns.TypeA, addrs("172.20.0.2")},
		{"www", dns.TypeA, addrs("172.20.0.2")},          // alias
		{"0123456789ab", dns.TypeA, addrs("172.20.0.2")}, // short ID
		{"web.front", dns.TypeA, addrs("172.20.0.2")},    // name.network
		{"db", dns.TypeA, addrs("172.20.0.3")},
		{"db", dns.TypeAAAA, addrs("fd00:20::3")},
		{"web", dns.TypeAAAA, nil}, // known, no IPv6: NOERROR, no data
		{"web", dns.TypeMX, nil},   // known, other type: NOERROR, no data
	} {
		resp := ask(t, "udp", srv, tc.name, tc.qtype)
		if resp.Rcode != dns.RcodeSuccess {
			t.Errorf("%s %s: rcode %s", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[resp.Rcode])
			continue
		}
		if got := answerAddrs(resp); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
		if len(resp.Answer) > 0 && resp.Answer[0].Header().Name != dns.Fqdn(tc.name) {
			t.Errorf("%s: answer owner %q", tc.name, resp.Answer[0].Header().Name)
		}
		if !resp.RecursionDesired || !resp.RecursionAvailable {
			t.Errorf("%s: RD %v RA %v", tc.name, resp.RecursionDesired, resp.RecursionAvailable)
		}
	}
	if q := up.seen(); len(q) != 0 {
		t.Errorf("container names leaked upstream: %v", q)
	}
}

func TestResolverCaseInsensitive(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})
	for _, name := range []string{"WEB", "wEb.", "WWW", "Web.FRONT", "0123456789AB"} {
		resp := ask(t, "udp", srv, name, dns.TypeA)
		if got := answerAddrs(resp); !slices.Equal(got, addrs("172.20.0.2")) {
			t.Errorf("%s = %v (%s)", name, got, dns.RcodeToString[resp.Rcode])
		}
		// The owner name echoes the question, as asked (0x20 clients check).
		if len(resp.Answer) == 1 && resp.Answer[0].Header().Name != dns.Fqdn(name) {
			t.Errorf("%s: owner %q", name, resp.Answer[0].Header().Name)
		}
	}
}

func TestResolverOtherNetworkNotAnswered(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})
	for _, name := range []string{"secret", "secret.back"} {
		resp := ask(t, "udp", srv, name, dns.TypeA)
		if resp.Rcode != dns.RcodeNameError || len(resp.Answer) != 0 {
			t.Errorf("%s from front: rcode %s, answer %v; want the upstream's NXDOMAIN",
				name, dns.RcodeToString[resp.Rcode], resp.Answer)
		}
		if !up.saw(name) {
			t.Errorf("%s was not forwarded", name)
		}
	}
	// db is on both: a container on front gets front's address only.
	if got := answerAddrs(ask(t, "udp", srv, "db", dns.TypeA)); !slices.Equal(got, addrs("172.20.0.3")) {
		t.Errorf("db from front = %v", got)
	}
}

func TestResolverSetNetworks(t *testing.T) {
	up := startFakeUpstream(t)
	r, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})
	r.SetNetworks([]string{"front", "back"}) // network connect
	if got := answerAddrs(ask(t, "udp", srv, "secret", dns.TypeA)); !slices.Equal(got, addrs("172.21.0.4")) {
		t.Errorf("secret after connect = %v", got)
	}
	r.SetNetworks([]string{"back"}) // disconnect from front
	if resp := ask(t, "udp", srv, "web", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("web after disconnect: %s %v", dns.RcodeToString[resp.Rcode], resp.Answer)
	}
}

func TestResolverTableChangesAreLive(t *testing.T) {
	up := startFakeUpstream(t)
	tb := NewTable()
	_, srv := startResolver(t, tb, []string{"front"}, []netip.AddrPort{up.addr})
	if resp := ask(t, "udp", srv, "late", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Fatalf("late before Add: %s", dns.RcodeToString[resp.Rcode])
	}
	tb.Add("front", "late", addrs("172.20.0.9"))
	if got := answerAddrs(ask(t, "udp", srv, "late", dns.TypeA)); !slices.Equal(got, addrs("172.20.0.9")) {
		t.Errorf("late after Add = %v", got)
	}
	tb.Remove("front", "late")
	if resp := ask(t, "udp", srv, "late", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("late after Remove: %s", dns.RcodeToString[resp.Rcode])
	}
}

func TestResolverTCP(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})
	if got := answerAddrs(ask(t, "tcp", srv, "web", dns.TypeA)); !slices.Equal(got, addrs("172.20.0.2")) {
		t.Errorf("web over tcp = %v", got)
	}
	resp := ask(t, "tcp", srv, upKnown, dns.TypeA)
	if got := answerAddrs(resp); !slices.Equal(got, addrs("192.0.2.1")) {
		t.Errorf("%s over tcp = %v", upKnown, got)
	}
	// A TCP client's query goes upstream over TCP.
	for _, q := range up.seen() {
		if q.proto != "tcp" {
			t.Errorf("forwarded over %s for a tcp client", q.proto)
		}
	}
}

func TestResolverPTR(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})
	for rev, want := range map[string]string{
		"2.0.20.172.in-addr.arpa.": "web.front.",
		"3.0.20.172.IN-ADDR.ARPA.": "db.front.",
		"3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.d.f.ip6.arpa.": "db.front.",
	} {
		for _, proto := range []string{"udp", "tcp"} {
			resp := ask(t, proto, srv, rev, dns.TypePTR)
			if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Errorf("PTR %s over %s: %s %v", rev, proto, dns.RcodeToString[resp.Rcode], resp.Answer)
				continue
			}
			ptr, ok := resp.Answer[0].(*dns.PTR)
			if !ok || ptr.Ptr != want || ptr.Hdr.Name != rev {
				t.Errorf("PTR %s over %s = %v, want %s", rev, proto, resp.Answer[0], want)
			}
		}
	}
	// An address of another network, or no container's, goes upstream.
	for _, rev := range []string{"4.0.21.172.in-addr.arpa.", "1.2.0.192.in-addr.arpa."} {
		if resp := ask(t, "udp", srv, rev, dns.TypePTR); resp.Rcode != dns.RcodeNameError {
			t.Errorf("PTR %s: %s %v, want the upstream's NXDOMAIN", rev, dns.RcodeToString[resp.Rcode], resp.Answer)
		}
		if !up.saw(rev) {
			t.Errorf("PTR %s not forwarded", rev)
		}
	}
}

func TestResolverForwards(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})

	for _, rd := range []bool{true, false} {
		q := new(dns.Msg)
		q.SetQuestion(upKnown, dns.TypeA)
		q.RecursionDesired = rd
		resp := exchange(t, "udp", srv, q)
		if resp.Rcode != dns.RcodeSuccess || !slices.Equal(answerAddrs(resp), addrs("192.0.2.1")) {
			t.Errorf("rd=%v: %s %v", rd, dns.RcodeToString[resp.Rcode], resp.Answer)
		}
		if resp.Id != q.Id {
			t.Errorf("rd=%v: answer id %d, query id %d", rd, resp.Id, q.Id)
		}
		if resp.RecursionDesired != rd {
			t.Errorf("rd=%v: answer RD %v", rd, resp.RecursionDesired)
		}
		seen := up.seen()
		last := seen[len(seen)-1]
		if last.rd != rd || last.proto != "udp" {
			t.Errorf("rd=%v: upstream saw rd=%v over %s", rd, last.rd, last.proto)
		}
	}

	// NXDOMAIN passes through.
	resp := ask(t, "udp", srv, "nowhere.test", dns.TypeA)
	if resp.Rcode != dns.RcodeNameError {
		t.Errorf("nowhere.test: %s", dns.RcodeToString[resp.Rcode])
	}
}

func TestResolverForwardTCPFallback(t *testing.T) {
	up := startFakeUpstream(t)
	_, srv := startResolver(t, testTable(), []string{"front"}, []netip.AddrPort{up.addr})

	// A client with a big EDNS0 buffer gets everything over UDP: the
	// Resolver retried over TCP upstream.
	q := new(dns.Msg)
	q.SetQuestion(upBig, dns.TypeA)
	q.SetEdns0(4096, false)
	resp := exchange(t, "udp", srv, q)
	if resp.Truncated || len(answerAddrs(resp)) != upBigCount {
		t.Errorf("big with EDNS0: TC %v, %d answers", resp.Truncated, len(resp.Answer))
	}
	var protos []string
	for _, uq := range up.seen() {
		protos = append(protos, uq.proto)
	}
	if !slices.Equal(protos, []string{"udp", "tcp"}) {
		t.Errorf("upstream saw %v, want udp then tcp", protos)
	}

	// A plain 512-byte client gets TC and what fits...
	resp = ask(t, "udp", srv, upBig, dns.TypeA)
	if !resp.Truncated || len(resp.Answer) >= upBigCount {
		t.Errorf("big without EDNS0: TC %v, %d answers", resp.Truncated, len(resp.Answer))
	}
	// ...and everything when it retries over TCP.
	if got := answerAddrs(ask(t, "tcp", srv, upBig, dns.TypeA)); len(got) != upBigCount {
		t.Errorf("big over tcp: %d answers", len(got))
	}
}

func TestResolverUpstreamDown(t *testing.T) {
	// A port nobody listens on: the upstream's ICMP port unreachable (UDP)
	// and RST (TCP) make the failure immediate.
	pc, l, dead := listenPair(t, "127.0.0.2")
	pc.Close()
	l.Close()

	// A socket that reads queries and never answers: only the timeout ends it.
	mute, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	muteAddr := mute.LocalAddr().(*net.UDPAddr).AddrPort()

	up := startFakeUpstream(t)
	const timeout = 300 * time.Millisecond

	for _, tc := range []struct {
		desc      string
		upstreams []netip.AddrPort
		name      string
		rcode     int
		within    time.Duration
	}{
		{"none configured", nil, upKnown, dns.RcodeServerFailure, time.Second},
		{"closed port", []netip.AddrPort{dead}, upKnown, dns.RcodeServerFailure, time.Second},
		{"silent", []netip.AddrPort{muteAddr}, upKnown, dns.RcodeServerFailure, timeout + time.Second},
		{"down then up", []netip.AddrPort{dead, muteAddr, up.addr}, upKnown, dns.RcodeSuccess, timeout + time.Second},
		{"servfail is skipped", []netip.AddrPort{up.addr}, upServfail, dns.RcodeServerFailure, time.Second},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, srv := startResolver(t, NewTable(), []string{"front"}, tc.upstreams, WithTimeout(timeout))
			for _, proto := range []string{"udp", "tcp"} {
				start := time.Now()
				resp := ask(t, proto, srv, tc.name, dns.TypeA)
				took := time.Since(start)
				if resp.Rcode != tc.rcode {
					t.Errorf("%s: rcode %s, want %s", proto, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
				}
				if took > tc.within {
					t.Errorf("%s: answered in %v, want within %v", proto, took, tc.within)
				}
			}
		})
	}
}

func TestResolverMalformedQuery(t *testing.T) {
	_, srv := startResolver(t, testTable(), []string{"front"}, nil)
	q := new(dns.Msg)
	q.Id = dns.Id()
	q.RecursionDesired = true
	q.Question = []dns.Question{
		{Name: "web.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
		{Name: "www.", Qtype: dns.TypeA, Qclass: dns.ClassINET},
	}
	resp := exchange(t, "udp", srv, q)
	if resp.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s", dns.RcodeToString[resp.Rcode])
	}
	// The Resolver still answers afterwards.
	if got := answerAddrs(ask(t, "udp", srv, "web", dns.TypeA)); !slices.Equal(got, addrs("172.20.0.2")) {
		t.Errorf("web after malformed query = %v", got)
	}
}

func TestResolverConcurrent(t *testing.T) {
	up := startFakeUpstream(t)
	tb := testTable()
	r, srv := startResolver(t, tb, []string{"front"}, []netip.AddrPort{up.addr})

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	// Writers churn the table and the resolver's networks meanwhile.
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("churn%d", i%10)
			tb.Add("front", name, addrs("172.20.1.1"))
			tb.Remove("front", name)
			r.SetNetworks([]string{"front"})
			r.SetUpstreams([]netip.AddrPort{up.addr})
		}
	}()
	var readers sync.WaitGroup
	for i := range 64 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			proto := []string{"udp", "tcp"}[i%2]
			for j := range 10 {
				name, want := "web", addrs("172.20.0.2")
				if (i+j)%2 == 1 {
					name, want = upKnown, addrs("192.0.2.1")
				}
				q := new(dns.Msg)
				q.SetQuestion(dns.Fqdn(name), dns.TypeA)
				resp, err := tryExchange(proto, srv, q)
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", proto, name, err)
					continue
				}
				if got := answerAddrs(resp); !slices.Equal(got, want) || resp.Id != q.Id {
					errs <- fmt.Errorf("%s %s = %v id %d/%d", proto, name, got, resp.Id, q.Id)
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestResolverStartClose(t *testing.T) {
	r := NewResolver(nil, nil, nil)
	if err := r.Start(nil, nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Start(nil, nil) = %v", err)
	}

	// UDP only.
	pc, l, addr := listenPair(t, "127.0.0.1")
	l.Close()
	tb := testTable()
	r = NewResolver(tb, []string{"front"}, nil)
	if err := r.Start(pc, nil); err != nil {
		t.Fatal(err)
	}
	if got := answerAddrs(ask(t, "udp", addr, "web", dns.TypeA)); !slices.Equal(got, addrs("172.20.0.2")) {
		t.Errorf("udp-only resolver: %v", got)
	}
	pc2, l2, _ := listenPair(t, "127.0.0.1")
	if err := r.Start(pc2, l2); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second Start = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The socket went with Close: the port can be bound again.
	again, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Errorf("port still bound after Close: %v", err)
	} else {
		again.Close()
	}
	pc3, l3, _ := listenPair(t, "127.0.0.1")
	if err := r.Start(pc3, l3); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Start after Close = %v", err)
	}
}

func TestResolverCloseAbortsForwards(t *testing.T) {
	mute, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	pc, l, addr := listenPair(t, "127.0.0.1")
	r := NewResolver(NewTable(), nil, []netip.AddrPort{mute.LocalAddr().(*net.UDPAddr).AddrPort()}, WithTimeout(time.Minute))
	if err := r.Start(pc, l); err != nil {
		t.Fatal(err)
	}
	go func() {
		q := new(dns.Msg)
		q.SetQuestion(upKnown, dns.TypeA)
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		c.Exchange(q, addr.String())
	}()
	// Wait for the forward to be in flight.
	buf := make([]byte, 512)
	mute.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := mute.ReadFrom(buf); err != nil {
		t.Fatalf("forward never reached the upstream: %v", err)
	}
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v with a forward in flight", took)
	}
}
