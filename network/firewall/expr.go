package firewall

import (
	"net"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders for the nftables expressions Berth's rules are made of. Each
// returns the expressions that load a field into register 1 and compare it,
// in the shape nft(8) itself generates, so `nft list table ip berth` prints
// them as ordinary rules (iifname "x", ip saddr 10.0.0.0/24, tcp dport 80...).

// ipsDstNAT is IPS_DST_NAT from linux/netfilter/nf_conntrack_common.h: the
// connection was DNATed ("ct status dnat").
const ipsDstNAT = 1 << 5

// ifname matches meta iifname or oifname against name (op Eq or Neq).
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

func iif(name string) []expr.Any    { return ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, name) }
func iifNot(name string) []expr.Any { return ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, name) }
func oif(name string) []expr.Any    { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, name) }
func oifNot(name string) []expr.Any { return ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, name) }

// Offsets of the addresses in the IPv4 header.
const (
	offSaddr = 12
	offDaddr = 16
)

// ipAddr matches ip saddr/daddr (off) against prefix p.
func ipAddr(off uint32, op expr.CmpOp, p netip.Prefix) []expr.Any {
	es := []expr.Any{&expr.Payload{
		OperationType: expr.PayloadLoad, DestRegister: 1,
		Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4,
	}}
	if p.Bits() < 32 {
		es = append(es, &expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: net.CIDRMask(p.Bits(), 32), Xor: make([]byte, 4),
		})
	}
	a := p.Masked().Addr().As4()
	return append(es, &expr.Cmp{Op: op, Register: 1, Data: a[:]})
}

// dport matches the layer 4 protocol and destination port ("tcp dport 80").
func dport(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{
			OperationType: expr.PayloadLoad, DestRegister: 1,
			Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2,
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// ctBits matches when any of bits is set in the conntrack key (state or status).
func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func ctEstablished() []expr.Any {
	return ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
}

func ctDNAT() []expr.Any { return ctBits(expr.CtKeySTATUS, ipsDstNAT) }

// fibDaddrLocal matches packets addressed to one of the host's own addresses
// ("fib daddr type local"), the nftables form of Docker's -m addrtype
// --dst-type LOCAL: published ports catch traffic to the host, not traffic the
// host merely routes.
func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// dnatTo rewrites the destination to addr:port ("dnat to addr:port").
func dnatTo(addr netip.Addr, port uint16) []expr.Any {
	a := addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{
			Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4,
			RegAddrMin: 1, RegProtoMin: 2, Specified: true,
		},
	}
}

func masquerade() expr.Any { return &expr.Masq{} }
func accept() expr.Any     { return &expr.Verdict{Kind: expr.VerdictAccept} }
func drop() expr.Any       { return &expr.Verdict{Kind: expr.VerdictDrop} }
func jump(chain string) expr.Any {
	return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain}
}

// join concatenates expression lists into one rule body.
func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// one wraps a single expression for join.
func one(e expr.Any) []expr.Any { return []expr.Any{e} }
