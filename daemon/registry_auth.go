package daemon

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/image/distribution"
)

// loginSucceeded is Docker's status of an accepted login.
const loginSucceeded = "Login Succeeded"

// AuthenticateToRegistry answers POST /auth (docker login): it checks the
// credentials against the registry auth.ServerAddress names (Docker Hub
// when it is empty) under the rules of a pull (insecure-registries,
// certs.d; never a mirror), and returns Docker's status. The identity
// token is always "": the registry's refresh token, which Docker asks for
// with offline_token, is not requested, and the CLI then stores the
// password as it does for any registry that issues none.
func (d *Daemon) AuthenticateToRegistry(ctx context.Context, auth *registry.AuthConfig) (status, identityToken string, err error) {
	host, err := loginHost(auth.ServerAddress)
	if err != nil {
		return "", "", err
	}
	if err := distribution.Login(ctx, host, d.registryOptions(auth)); err != nil {
		return "", "", err
	}
	return loginSucceeded, "", nil
}

// loginHost is the registry (host[:port]) a login's server address names,
// read as Docker reads it: a URL or a bare host[:port], whose scheme and
// path do not matter; Docker Hub's addresses, and none, are docker.io.
func loginHost(addr string) (string, error) {
	if addr == "" {
		return "docker.io", nil
	}
	s := addr
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to parse server address: %v", err))
	}
	switch strings.ToLower(u.Host) {
	case "":
		return "", cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid server address %q: it names no registry host", addr))
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return "docker.io", nil
	}
	return u.Host, nil
}
