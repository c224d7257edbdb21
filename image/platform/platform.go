// Package platform names, parses and matches image platforms
// (os/arch/variant): the daemon's own, the --platform of load, import and
// pull, and the choice of a manifest from an image index.
package platform

import (
	"fmt"
	"runtime"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Default is this daemon's platform: runtime.GOOS and GOARCH, with the
// variant the docker CLI and containerd assume on arm and arm64.
func Default() ocispec.Platform {
	p := ocispec.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	switch p.Architecture {
	case "arm":
		p.Variant = "v7"
	case "arm64":
		p.Variant = "v8"
	}
	return p
}

// Parse parses "os[/arch[/variant]]". "" is the default platform; a missing
// architecture is this daemon's when os is its own. A malformed value is an
// invalid-argument error.
func Parse(s string) (ocispec.Platform, error) {
	if s == "" {
		return Default(), nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	bad := len(parts) > 3
	for _, p := range parts {
		bad = bad || p == ""
	}
	if bad {
		return ocispec.Platform{}, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid platform %q: expected os[/arch[/variant]]", s))
	}
	p := ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	} else if p.OS == runtime.GOOS {
		p.Architecture = runtime.GOARCH
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return Normalize(p), nil
}

// String is os/arch[/variant].
func String(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Normalize spells architectures and variants the way OCI does.
func Normalize(p ocispec.Platform) ocispec.Platform {
	p.OS = strings.ToLower(p.OS)
	p.Architecture = strings.ToLower(p.Architecture)
	p.Variant = strings.ToLower(p.Variant)
	switch p.Architecture {
	case "i386", "i686":
		p.Architecture = "386"
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
		p.Variant = ""
	case "aarch64":
		p.Architecture = "arm64"
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	}
	switch p.Architecture {
	case "amd64":
		if p.Variant == "v1" {
			p.Variant = ""
		}
	case "arm64":
		if p.Variant == "8" || p.Variant == "v8" {
			p.Variant = ""
		}
	case "arm":
		if len(p.Variant) == 1 && p.Variant[0] >= '5' && p.Variant[0] <= '8' {
			p.Variant = "v" + p.Variant
		}
	}
	return p
}

// Score rates how well have suits want: 0 for not at all, higher for
// better. An arm variant runs older ones (v7 runs v6 and v5).
func Score(want, have ocispec.Platform) int {
	want, have = Normalize(want), Normalize(have)
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return 0
	}
	if want.Variant == have.Variant {
		return 10
	}
	if want.Variant == "" || have.Variant == "" {
		return 5
	}
	if want.Architecture == "arm" && have.Variant < want.Variant {
		return 2 // v5 < v6 < v7 < v8
	}
	return 0
}
