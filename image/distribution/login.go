package distribution

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
)

// Login checks opts.Credentials against the registry host (as references
// name it: docker.io, registry.lan:5000), as `docker login` has the daemon
// do: a GET /v2/ with them, after the basic or bearer-token handshake the
// registry's challenge asks for, must answer 200. The scheme, certs.d and
// insecure-registries rules are a pull's. Mirrors are never asked, so that
// credentials meant for Docker Hub do not go to a mirror.
//
// Refused credentials are an errdefs.ErrUnauthenticated error worded as
// Docker words it: "login attempt to http://host/v2/ failed with status:
// 401 Unauthorized", or the token server's message.
func Login(ctx context.Context, host string, opts Options) error {
	reg, rt, idle, err := connect(ctx, endpoint{host: host}, opts, nil)
	if err != nil {
		return loginError(ctx, err)
	}
	defer idle()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", http.NoBody)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(ctx, err)
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	// The transport has put in the scheme the ping settled on.
	u := req.URL
	if resp.Request != nil {
		u = resp.Request.URL
	}
	msg := fmt.Sprintf("login attempt to %s://%s/v2/ failed with status: %d %s", u.Scheme, u.Host, resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode == http.StatusUnauthorized {
		return errorf(errdefs.ErrUnauthenticated, "%s", msg)
	}
	return errorf(errdefs.ErrUnknown, "%s", msg)
}

// loginError classes a failed handshake: a token server's refusal is a
// login refused (401), not the permission error it is for a pull.
func loginError(ctx context.Context, err error) error {
	err = translateError(ctx, err)
	var re *RegistryError
	if errors.As(err, &re) && (re.Status == http.StatusUnauthorized || re.HasCode("UNAUTHORIZED")) {
		return classed{base: errdefs.ErrUnauthenticated, msg: err.Error(), cause: re}
	}
	return err
}
