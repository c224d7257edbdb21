package distribution

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// endpoint is a registry host to reach a repository at: the registry its
// name says, or, for a pull from Docker Hub, one of its mirrors.
type endpoint struct {
	host string // host[:port]
	// mirror is set for a registry mirror; scheme is then the one its URL
	// gives, which is the only one used (as in Docker, a mirror gets no
	// fallback to the other). The registry itself is reached over HTTPS,
	// or also plain HTTP when it is insecure.
	mirror bool
	scheme string
}

func (ep endpoint) String() string {
	if ep.mirror {
		return "mirror " + ep.scheme + "://" + ep.host
	}
	return ep.host
}

// dockerHub is the domain references give Docker Hub.
const dockerHub = "docker.io"

// pullEndpoints are where a pull of named is tried, in order: for Docker
// Hub, each mirror and then Hub itself; else the registry alone.
func pullEndpoints(named reference.Named, opts Options) []endpoint {
	domain := reference.Domain(named)
	var eps []endpoint
	if domain == dockerHub {
		for _, m := range opts.Mirrors {
			eps = append(eps, endpoint{host: m.Host, mirror: true, scheme: m.Scheme})
		}
	}
	return append(eps, endpoint{host: domain})
}

// connect ends the /v2/ handshake with ep: it pings it, picks the scheme,
// and authenticates with opts.Credentials for scopes (a token for those
// scopes, or basic auth on every request). The transport it returns
// applies both; idle closes its idle connections.
func connect(ctx context.Context, ep endpoint, opts Options, scopes func(name.Registry) []string) (reg name.Registry, rt http.RoundTripper, idle func(), err error) {
	insecure := opts.Insecure != nil && opts.Insecure(ep.host)
	guard := &schemeGuard{allowHTTPS: true, allowHTTP: insecure}
	if ep.mirror {
		guard.allowHTTPS, guard.allowHTTP = ep.scheme == "https", ep.scheme == "http"
	}
	var nameOpts []name.Option
	if guard.allowHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	reg, err = name.NewRegistry(ep.host, nameOpts...)
	if err != nil {
		return reg, nil, nil, invalidf("invalid registry %q: %v", ep.host, err)
	}
	guard.host = reg.RegistryStr()
	guard.userAgent = opts.UserAgent
	guard.inner = opts.Transport
	idle = func() {}
	if guard.inner == nil {
		// A registry that is insecure is not verified (Docker then ignores
		// certs.d too); a secure one is, against the system's roots and
		// those certs.d adds, which also holds client certificates.
		tlsConf := &tls.Config{InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // insecure-registries
		if !insecure {
			if tlsConf, err = certsDirTLS(opts.CertsDir, ep.host); err != nil {
				return reg, nil, nil, err
			}
		}
		t := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			// HTTP/1.1, as Docker's registry transport: over HTTP/2 a
			// registry's refusal of the client certificate (TLS 1.3 sends
			// it after the handshake) surfaces only as "http2: client conn
			// could not be established" instead of the TLS alert.
			TLSClientConfig: tlsConf,
		}
		guard.inner, idle = t, t.CloseIdleConnections
	}
	var sc []string
	if scopes != nil {
		sc = scopes(reg)
	}
	rt, err = transport.NewWithContext(ctx, reg, authenticator(opts.Credentials), guard, sc)
	if err != nil {
		idle()
		return reg, nil, nil, err
	}
	return reg, rt, idle, nil
}

// schemeGuard keeps requests to the registry host to the schemes allowed:
// the transport's ping tries plain HTTP on its own for private addresses
// and .localhost names, which Docker allows only for insecure-registries
// and 127.0.0.0/8, and always tries HTTPS first, which a mirror configured
// as http:// must not get.
type schemeGuard struct {
	inner                 http.RoundTripper
	host                  string
	allowHTTP, allowHTTPS bool
	userAgent             string
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if hostOnly(req.URL.Host) == hostOnly(g.host) {
		var refuse string
		switch {
		case req.URL.Scheme == "http" && !g.allowHTTP:
			refuse = fmt.Sprintf("refusing plain HTTP to registry %s: it is not an insecure registry (see insecure-registries)", g.host)
		case req.URL.Scheme == "https" && !g.allowHTTPS:
			refuse = fmt.Sprintf("not using HTTPS with %s: it is configured as an http:// mirror", g.host)
		}
		if refuse != "" {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, errors.New(refuse)
		}
	}
	if g.userAgent != "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", g.userAgent)
	}
	return g.inner.RoundTrip(req)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}
