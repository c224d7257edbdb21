// Package system serves /_ping, /version, /info, /events, /system/df and
// /auth.
package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/router"
	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/internal/timestamp"
)

// Router serves the system endpoints.
type Router struct{ b Backend }

// New returns the system router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes lists the system endpoints.
func (s *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/_ping", Handler: ping},
		{Method: http.MethodHead, Path: "/_ping", Handler: ping},
		{Method: http.MethodGet, Path: "/version", Handler: s.version},
		{Method: http.MethodGet, Path: "/info", Handler: s.info},
		{Method: http.MethodGet, Path: "/events", Handler: s.events},
		{Method: http.MethodGet, Path: "/system/df", Handler: s.diskUsage},
		{Method: http.MethodPost, Path: "/auth", Handler: s.auth},
	}
}

// ping answers with the headers clients negotiate from. Builder-Version 1
// tells the docker CLI to use the classic builder (Berth has no BuildKit).
func ping(_ context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Docker-Experimental", "false")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err := w.Write([]byte("OK"))
	return err
}

func (s *Router) version(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	return httputils.WriteJSON(w, http.StatusOK, s.b.SystemVersion(ctx))
}

func (s *Router) info(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
	info, err := s.b.SystemInfo(ctx)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, info)
}

// auth checks registry credentials (docker login). The body is a registry
// AuthConfig; a refused login is the backend's error (401 for refused
// credentials).
func (s *Router) auth(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var cfg registry.AuthConfig
	if err := httputils.ReadJSON(r, &cfg); err != nil {
		return err
	}
	status, token, err := s.b.AuthenticateToRegistry(ctx, &cfg)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, authResponse{Status: status, IdentityToken: token})
}

// authResponse is registry.AuthResponse as dockerd up to 28 (API 1.44
// included) writes it, IdentityToken present even when empty; the newer
// wire type omits it then.
type authResponse struct {
	IdentityToken string `json:"IdentityToken"`
	Status        string `json:"Status"`
}

func (s *Router) diskUsage(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	for _, t := range r.Form["type"] {
		switch t {
		case "image", "container", "volume", "build-cache":
		default:
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown object type: %s", t))
		}
	}
	du, err := s.b.SystemDiskUsage(ctx, r.Form["type"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, du)
}

// events streams events as JSON objects, one per line. With until, the
// stream ends at that time; without it, when the client or server goes away.
func (s *Router) events(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	since, err := timestamp.Parse(q.Get("since"))
	if err != nil {
		return err
	}
	until, err := timestamp.Parse(q.Get("until"))
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return cerrdefs.ErrInvalidArgument.WithMessage("`since` time must be before `until`")
	}
	f, err := filters.Parse(q.Get("filters"))
	if err != nil {
		return err
	}
	past, live, cancel, err := s.b.SubscribeToEvents(since, until, f)
	if err != nil {
		return err
	}
	defer cancel()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() { http.NewResponseController(w).Flush() }
	for _, m := range past {
		if err := enc.Encode(m); err != nil {
			return nil
		}
	}
	flush()

	var deadline <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case m, ok := <-live:
			if !ok {
				return nil
			}
			if !until.IsZero() && time.Unix(0, m.TimeNano).After(until) {
				return nil
			}
			if err := enc.Encode(m); err != nil {
				return nil
			}
			flush()
		case <-deadline:
			return nil
		case <-ctx.Done():
			return nil
		case <-httputils.Closing(ctx):
			return nil
		}
	}
}
