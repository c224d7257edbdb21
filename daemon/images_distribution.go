package daemon

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"

	"github.com/berth-engine/berth/api/types/progress"
	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/image/distribution"
	"github.com/berth-engine/berth/image/platform"
	"github.com/berth-engine/berth/internal/version"
)

// distributionStore adapts the image subsystem to distribution.Store. Its
// tags and digests are set without events: the pull or push publishes its
// own.
type distributionStore struct{ archiveStore }

var _ distribution.Store = distributionStore{}

func (s distributionStore) LookupReference(ref distref.Named) (digest.Digest, error) {
	id, err := s.svc().refs.Get(ref)
	return id.Digest(), err
}

func (s distributionStore) Tag(ref distref.NamedTagged, id digest.Digest) error {
	return s.svc().refs.AddTag(ref, image.IDFromDigest(id), true)
}

func (s distributionStore) AddDigest(ref distref.Canonical, id digest.Digest) error {
	return s.svc().refs.AddDigest(ref, image.IDFromDigest(id), true)
}

func (s distributionStore) ReferencesByName(repo distref.Named) []distribution.Association {
	var out []distribution.Association
	for _, as := range s.svc().refs.ReferencesByName(repo) {
		out = append(out, distribution.Association{Ref: as.Ref, ID: as.ID.Digest()})
	}
	return out
}

// distributionOptions are the options of a pull or push made with auth.
func (d *Daemon) distributionOptions(auth *registry.AuthConfig, out progress.Output) (distribution.Options, error) {
	if err := ensureDir(d.tmpDir()); err != nil {
		return distribution.Options{}, err
	}
	if out == nil {
		out = progress.Discard
	}
	opts := d.registryOptions(auth)
	opts.TempDir = d.tmpDir()
	opts.Blobs = distribution.NewBlobIndex(filepath.Join(d.img.root, "distribution"))
	opts.Progress = func(p distribution.Progress) {
		_ = out.WriteProgress(progress.Progress{ID: p.ID, Action: p.Action, Current: p.Current, Total: p.Total, Aux: p.Aux})
	}
	return opts, nil
}

// registryOptions say how to reach registries with auth, under the
// configuration in force (insecure-registries, registry-mirrors and
// registry-certs-dir, read at every operation so that a reload applies to
// the next one).
func (d *Daemon) registryOptions(auth *registry.AuthConfig) distribution.Options {
	cfg := d.Config()
	// Validate has checked them.
	mirrors, _ := config.ParseMirrors(cfg.RegistryMirrors)
	return distribution.Options{
		Credentials: credentials(auth),
		Insecure:    insecureRegistries(cfg.InsecureRegistries),
		Mirrors:     mirrors,
		CertsDir:    cfg.RegistryCertsDir,
		Log:         d.log.WithField("subsystem", "distribution"),
		UserAgent:   fmt.Sprintf("berth/%s go/%s os/%s arch/%s", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH),
	}
}

// credentials are the registry credentials of an X-Registry-Auth config;
// nil is anonymous. The legacy "auth" field (base64 user:password) counts
// when there is no user name.
func credentials(a *registry.AuthConfig) distribution.Credentials {
	if a == nil {
		return distribution.Credentials{}
	}
	c := distribution.Credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	if c.Username == "" && c.Password == "" && a.Auth != "" {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(strings.TrimSpace(a.Auth)); err == nil {
				if u, p, ok := strings.Cut(string(b), ":"); ok {
					c.Username, c.Password = u, p
				}
				break
			}
		}
	}
	return c
}

// insecureRegistries returns whether a registry (host[:port]) is insecure:
// named in insecure-registries, or with an address in one of its CIDRs (or
// the loopback ones); a name is resolved, as Docker does.
func insecureRegistries(list []string) func(host string) bool {
	cidrs, hosts, _ := config.ParseInsecureRegistries(list)
	return func(host string) bool {
		host = strings.ToLower(host)
		if slices.Contains(hosts, host) {
			return true
		}
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		name = strings.Trim(name, "[]")
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(name); err == nil {
			addrs = []netip.Addr{a}
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			addrs, _ = net.DefaultResolver.LookupNetIP(ctx, "ip", name)
			cancel()
		}
		for _, a := range addrs {
			for _, c := range cidrs {
				if c.Contains(a.Unmap()) {
					return true
				}
			}
		}
		return false
	}
}

// parsePullRef parses a reference to pull or push.
func parsePullRef(ref string) (distref.Named, error) {
	named, err := distref.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", ref))
	}
	return named, nil
}

// ImagePull pulls ref (name[:tag] or name@digest; no tag means :latest)
// for platform ("" for this daemon's), reporting progress to out (nil for
// none). Containers that need a missing image call it too.
func (d *Daemon) ImagePull(ctx context.Context, ref, platform string, auth *registry.AuthConfig, out progress.Output) error {
	named, err := parsePullRef(ref)
	if err != nil {
		return err
	}
	opts, err := d.pullOptions(platform, auth, out)
	if err != nil {
		return err
	}
	res, err := distribution.Pull(ctx, distributionStore{archiveStore{d}}, named, opts)
	if err != nil {
		return err
	}
	d.logRefEvent(res.Ref, eventtypes.ActionPull)
	return nil
}

// ImagePullAllTags pulls every tag of the repository repo (docker pull -a).
func (d *Daemon) ImagePullAllTags(ctx context.Context, repo, platform string, auth *registry.AuthConfig, out progress.Output) error {
	named, err := parsePullRef(repo)
	if err != nil {
		return err
	}
	opts, err := d.pullOptions(platform, auth, out)
	if err != nil {
		return err
	}
	results, err := distribution.PullAllTags(ctx, distributionStore{archiveStore{d}}, named, opts)
	for _, res := range results {
		d.logRefEvent(res.Ref, eventtypes.ActionPull)
	}
	return err
}

func (d *Daemon) pullOptions(plat string, auth *registry.AuthConfig, out progress.Output) (distribution.PullOptions, error) {
	o, err := d.distributionOptions(auth, out)
	if err != nil {
		return distribution.PullOptions{}, err
	}
	opts := distribution.PullOptions{Options: o, GzipCommand: d.img.gzipCommand}
	if plat != "" {
		p, err := platform.Parse(plat)
		if err != nil {
			return opts, err
		}
		opts.Platform = &p
	}
	return opts, nil
}

// ImagePush pushes name (with tag, if given, else every tag of the
// repository) to its registry.
func (d *Daemon) ImagePush(ctx context.Context, name, tag string, auth *registry.AuthConfig, out progress.Output) error {
	named, err := parsePullRef(name)
	if err != nil {
		return err
	}
	if tag != "" {
		if named, err = distref.WithTag(distref.TrimNamed(named), tag); err != nil {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %s", tag))
		}
	}
	opts, err := d.distributionOptions(auth, out)
	if err != nil {
		return err
	}
	results, err := distribution.Push(ctx, distributionStore{archiveStore{d}}, named, opts)
	for _, r := range results {
		if ref, terr := distref.WithTag(distref.TrimNamed(named), r.Tag); terr == nil {
			d.logRefEvent(ref, eventtypes.ActionPush)
		}
	}
	return err
}

// logRefEvent publishes a pull or push event, whose actor is the reference,
// as in Docker.
func (d *Daemon) logRefEvent(ref distref.Named, action eventtypes.Action) {
	name := distref.FamiliarString(ref)
	d.events.Log(eventtypes.ImageEventType, action, name, map[string]string{"name": name})
}
