package config

import (
	"fmt"
	"net/url"
)

// DefaultRegistryCertsDir is where berthd looks for registries' TLS
// material, as dockerd looks in /etc/docker/certs.d.
const DefaultRegistryCertsDir = "/etc/berth/certs.d"

// ParseMirrors checks registry-mirrors as dockerd does and returns them
// normalized: an http:// or https:// URL with a host, no credentials, query
// or fragment, and a trailing "/" (what `docker info` shows). A mirror
// must be a registry at the root of its host: the registry client speaks
// to /v2/ there.
func ParseMirrors(list []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(list))
	for _, m := range list {
		u, err := url.Parse(m)
		if err != nil {
			return nil, fmt.Errorf("invalid mirror: %q is not a valid URI: %w", m, err)
		}
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			return nil, fmt.Errorf("invalid mirror: unsupported scheme %q in %q", u.Scheme, m)
		case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
			return nil, fmt.Errorf("invalid mirror: query or fragment at end of the URI %q", m)
		case u.User != nil:
			return nil, fmt.Errorf("invalid mirror: username/password not allowed in URI %q", (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String())
		case u.Host == "" || u.Hostname() == "":
			return nil, fmt.Errorf("invalid mirror: no host in %q", m)
		case u.Path != "" && u.Path != "/":
			return nil, fmt.Errorf("invalid mirror: path %q in %q is not supported: a mirror must be a registry at the root of its host", u.Path, m)
		}
		out = append(out, &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"})
	}
	return out, nil
}
