package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"
)

const (
	// DefaultTimeout bounds one exchange with one upstream (dial, query,
	// answer); the TCP retry after a truncated UDP answer gets its own.
	DefaultTimeout = 2 * time.Second
	// maxConcurrentForwards caps the forwarded queries in flight per
	// Resolver, as Docker does; beyond it queries get SERVFAIL at once.
	maxConcurrentForwards = 1024
	// answerTTL is the TTL of the records the Resolver answers itself
	// (Docker's value).
	answerTTL = 600
	// udpReadSize is the buffer for queries and for upstream answers over UDP.
	udpReadSize = dns.DefaultMsgSize
)

// Resolver is the embedded DNS server of one container: it answers the names
// of the Table on the networks the container is attached to, and forwards
// every other query to upstream resolvers.
//
// The sockets it serves are given to Start; open them in the container's
// network namespace with ListenInNetns. Forwarding sockets are opened by the
// goroutines serving queries, which never switch namespace: forwarding thus
// happens from the daemon's (host) namespace, so loopback upstreams such as
// systemd-resolved's 127.0.0.53 work, as with Docker.
//
// What it answers itself, for a name the Table knows on one of the
// container's networks (see Table.Lookup): A and AAAA with that name's
// addresses of the family (NOERROR with no answer when the name has none of
// it), any other type with NOERROR and no answer. PTR of the reverse name of
// an address registered with Table.Add answers "name.network.". Everything
// else, unknown PTR included, is forwarded: over UDP with a retry over TCP
// when the answer is truncated (over TCP when the client asked over TCP), to
// each upstream in turn until one answers with something other than
// SERVFAIL or REFUSED; the answer (NXDOMAIN included) is passed through with
// the client's query ID. When none answers, or there are no upstreams, the
// client gets SERVFAIL. Answers over UDP are truncated to what the client can
// take (512 bytes, or its EDNS0 size), with TC set.
type Resolver struct {
	table     *Table
	networks  atomic.Pointer[[]string]
	upstreams atomic.Pointer[[]netip.AddrPort]
	timeout   time.Duration
	log       logrus.FieldLogger
	sem       chan struct{}

	ctx    context.Context // cancelled by Close, aborts forwards in flight
	cancel context.CancelFunc

	mu      sync.Mutex
	servers []*dns.Server
	state   int // stateNew, stateStarted, stateClosed
	done    sync.WaitGroup
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// Option configures a Resolver.
type Option func(*Resolver)

// WithTimeout sets the timeout of one exchange with one upstream
// (DefaultTimeout if d <= 0).
func WithTimeout(d time.Duration) Option {
	return func(r *Resolver) {
		if d > 0 {
			r.timeout = d
		}
	}
}

// WithLogger sets where the Resolver logs (nowhere by default). Failures of
// single queries are logged at debug level.
func WithLogger(l logrus.FieldLogger) Option {
	return func(r *Resolver) {
		if l != nil {
			r.log = l
		}
	}
}

// NewResolver returns a Resolver for a container attached to networks (in
// order of preference), answering from table and forwarding to upstreams.
// The slices are copied. Nothing is served until Start.
func NewResolver(table *Table, networks []string, upstreams []netip.AddrPort, opts ...Option) *Resolver {
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	r := &Resolver{
		table:   table,
		timeout: DefaultTimeout,
		log:     discard,
		sem:     make(chan struct{}, maxConcurrentForwards),
	}
	if r.table == nil {
		r.table = NewTable()
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.SetNetworks(networks)
	r.SetUpstreams(upstreams)
	for _, o := range opts {
		o(r)
	}
	return r
}

// SetNetworks replaces the networks the container is attached to (network
// connect and disconnect); queries already being answered may use either list.
func (r *Resolver) SetNetworks(networks []string) {
	n := slices.Clone(networks)
	r.networks.Store(&n)
}

// SetUpstreams replaces the upstream resolvers.
func (r *Resolver) SetUpstreams(upstreams []netip.AddrPort) {
	u := slices.Clone(upstreams)
	r.upstreams.Store(&u)
}

// Start serves DNS over pc (UDP) and l (TCP); either may be nil, not both.
// It returns once both are being served. The Resolver owns the sockets from
// then on, even when Start fails: Close (or a failed Start) closes them.
// A Resolver is started at most once.
func (r *Resolver) Start(pc net.PacketConn, l net.Listener) error {
	closeAll := func() {
		if pc != nil {
			pc.Close()
		}
		if l != nil {
			l.Close()
		}
	}
	if pc == nil && l == nil {
		return fmt.Errorf("dns: start resolver: no socket to serve: %w", errdefs.ErrInvalidArgument)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case stateStarted:
		closeAll()
		return fmt.Errorf("dns: start resolver: already started: %w", errdefs.ErrConflict)
	case stateClosed:
		closeAll()
		return fmt.Errorf("dns: start resolver: closed: %w", errdefs.ErrConflict)
	}

	type result struct {
		srv *dns.Server
		err error
	}
	var servers []*dns.Server
	if pc != nil {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: r, UDPSize: udpReadSize})
	}
	if l != nil {
		servers = append(servers, &dns.Server{Listener: l, Handler: r})
	}
	started := make(chan result, 2*len(servers))
	for _, srv := range servers {
		r.done.Add(1)
		srv.NotifyStartedFunc = func() { started <- result{srv: srv} }
		go func() {
			defer r.done.Done()
			err := srv.ActivateAndServe()
			if err != nil {
				// Before NotifyStartedFunc this fails Start; after, it
				// lands in the buffered channel unread and is logged.
				started <- result{srv: srv, err: err}
				r.log.WithError(err).Warn("dns: embedded DNS server stopped")
			}
		}()
	}

	var errs []error
	var running []*dns.Server
	for range servers {
		res := <-started
		if res.err != nil {
			errs = append(errs, res.err)
		} else {
			running = append(running, res.srv)
		}
	}
	if len(errs) > 0 {
		for _, srv := range running {
			srv.Shutdown()
		}
		closeAll()
		r.state = stateClosed
		r.cancel()
		return fmt.Errorf("dns: start resolver: %w", errors.Join(errs...))
	}
	r.servers = servers
	r.state = stateStarted
	return nil
}

// Close stops serving, aborts forwards in flight and closes the sockets. It
// waits for the queries being answered to finish. Closing twice is harmless.
func (r *Resolver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stateClosed {
		return nil
	}
	r.state = stateClosed
	r.cancel()
	var errs []error
	for _, srv := range r.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	r.servers = nil
	r.done.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dns: close resolver: %w", err)
	}
	return nil
}

// ServeDNS answers one query; it makes the Resolver a dns.Handler, which is
// how Start serves it.
func (r *Resolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	proto := "udp"
	if _, ok := w.LocalAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	resp := r.answer(proto, q)
	if proto == "udp" {
		resp.Truncate(clientUDPSize(q))
	}
	if err := w.WriteMsg(resp); err != nil {
		r.log.WithError(err).Debug("dns: write answer")
	}
}

// answer builds the response to q, asked over proto ("udp" or "tcp").
func (r *Resolver) answer(proto string, q *dns.Msg) *dns.Msg {
	if len(q.Question) != 1 {
		return failure(q, dns.RcodeFormatError)
	}
	if resp := r.answerLocal(q); resp != nil {
		return resp
	}
	return r.forward(proto, q)
}

// answerLocal answers q from the Table, or returns nil when the name is not
// the Table's (on the container's networks).
func (r *Resolver) answerLocal(q *dns.Msg) *dns.Msg {
	question := q.Question[0]
	if question.Qclass != dns.ClassINET {
		return nil
	}
	networks := *r.networks.Load()

	if question.Qtype == dns.TypePTR {
		if addr, ok := parseReverse(question.Name); ok {
			name, network, found := r.table.LookupAddr(networks, addr)
			if !found {
				return nil
			}
			resp := reply(q)
			resp.Answer = append(resp.Answer, &dns.PTR{
				Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: answerTTL},
				Ptr: dns.Fqdn(name + "." + network),
			})
			return resp
		}
	}

	addrs := r.table.Lookup(networks, question.Name)
	if addrs == nil {
		return nil
	}
	resp := reply(q)
	switch question.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		want4 := question.Qtype == dns.TypeA
		addrs = slices.DeleteFunc(addrs, func(a netip.Addr) bool { return a.Is4() != want4 })
		rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		for _, a := range addrs {
			hdr := dns.RR_Header{Name: question.Name, Rrtype: question.Qtype, Class: dns.ClassINET, Ttl: answerTTL}
			if want4 {
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	// Other types for a known name: NOERROR, no data; never leaked upstream.
	return resp
}

// forward sends q to the upstreams and returns the first usable answer, or
// SERVFAIL.
func (r *Resolver) forward(proto string, q *dns.Msg) *dns.Msg {
	upstreams := *r.upstreams.Load()
	question := q.Question[0]
	log := r.log.WithFields(logrus.Fields{"name": question.Name, "type": dns.TypeToString[question.Qtype]})
	if len(upstreams) == 0 {
		log.Debug("dns: no upstream resolver to forward to")
		return failure(q, dns.RcodeServerFailure)
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	default:
		log.Debug("dns: too many forwarded queries in flight")
		return failure(q, dns.RcodeServerFailure)
	}

	fq := q.Copy()
	fq.Id = dns.Id()
	for _, u := range upstreams {
		if r.ctx.Err() != nil {
			break
		}
		resp, err := r.exchange(proto, fq, u)
		if err != nil {
			log.WithError(err).WithField("upstream", u.String()).Debug("dns: upstream did not answer")
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			log.WithField("upstream", u.String()).Debugf("dns: upstream answered %s", dns.RcodeToString[resp.Rcode])
			continue
		}
		resp.Id = q.Id
		resp.Compress = true
		return resp
	}
	return failure(q, dns.RcodeServerFailure)
}

// exchange asks one upstream over proto, retrying over TCP when a UDP answer
// is truncated.
func (r *Resolver) exchange(proto string, m *dns.Msg, upstream netip.AddrPort) (*dns.Msg, error) {
	resp, err := r.exchangeOnce(proto, m, upstream)
	if err != nil {
		return nil, err
	}
	if proto == "udp" && resp.Truncated {
		tresp, err := r.exchangeOnce("tcp", m, upstream)
		if err != nil {
			// The truncated answer is still an answer: the client will
			// see TC and may retry over TCP itself.
			return resp, nil
		}
		resp = tresp
	}
	return resp, nil
}

// exchangeOnce is one query to one upstream within the timeout, aborted
// early by Close.
func (r *Resolver) exchangeOnce(proto string, m *dns.Msg, upstream netip.AddrPort) (*dns.Msg, error) {
	addr := upstream.String()
	c := &dns.Client{Net: proto, Timeout: r.timeout, UDPSize: udpReadSize}
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	co, err := c.DialContext(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%s dial %s: %w", proto, addr, err)
	}
	defer co.Close()
	// miekg/dns only takes the context's deadline: closing the connection
	// is what interrupts a read when Close cancels r.ctx.
	stop := context.AfterFunc(ctx, func() { co.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, co)
	if err != nil {
		return nil, fmt.Errorf("%s exchange with %s: %w", proto, addr, err)
	}
	return resp, nil
}

// reply is the skeleton of an answer of the Resolver's own: ID, question,
// RD and CD copied from q; authoritative, recursion available; an OPT record
// when q had one.
func reply(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(q)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	resp.Compress = true
	if o := q.IsEdns0(); o != nil {
		resp.SetEdns0(udpReadSize, o.Do())
	}
	return resp
}

// failure is an answer with rcode and nothing else.
func failure(q *dns.Msg, rcode int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(q, rcode)
	resp.RecursionAvailable = true
	return resp
}

// clientUDPSize is the largest UDP answer the client of q accepts.
func clientUDPSize(q *dns.Msg) int {
	if o := q.IsEdns0(); o != nil && int(o.UDPSize()) > dns.MinMsgSize {
		return int(o.UDPSize())
	}
	return dns.MinMsgSize
}
