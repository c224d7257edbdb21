// Package dns is Berth's embedded DNS server, Docker's 127.0.0.11.
//
// Containers on user-defined networks get "nameserver 127.0.0.11" in their
// /etc/resolv.conf. A Resolver per container listens there, UDP and TCP on
// port 53, inside the container's network namespace, and is served from
// berthd's own goroutines:
//
//   - Table holds the names to answer, per network: container names (with
//     their PTR records), network-scoped aliases and short IDs. One Table
//     serves every Resolver of the daemon; Resolvers read it live.
//   - Resolver answers the Table's names for the networks its container is
//     attached to, and forwards everything else to upstream resolvers.
//   - ListenInNetns opens a Resolver's sockets inside a network namespace.
//   - Upstreams reads the upstream resolvers from a resolv.conf.
//
// Only the listening sockets live in the container's namespace: forwarding
// sockets are opened in the daemon's (host) namespace, so the host's loopback
// resolvers (systemd-resolved's 127.0.0.53, a local dnsmasq) are usable
// upstreams, as with Docker.
//
// The package keeps no global state and owns no file on disk: the daemon
// rebuilds the Table from its containers' endpoints at start.
package dns
