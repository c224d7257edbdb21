// Package plugin answers the plugin endpoints as a Docker Engine with no
// plugins installed does: an empty list, and "not found" for any name.
// Installing plugins is not supported.
package plugin

import (
	"context"
	"fmt"
	"net/http"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/router"
)

// Router serves the plugin endpoints.
type Router struct{}

// New returns the plugin router.
func New() Router { return Router{} }

// Routes lists the plugin endpoints.
func (Router) Routes() []router.Route {
	notFound := func(_ context.Context, _ http.ResponseWriter, _ *http.Request, vars map[string]string) error {
		return cerrdefs.ErrNotFound.WithMessage(fmt.Sprintf("plugin %q not found", vars["name"]))
	}
	unsupported := func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return cerrdefs.ErrNotImplemented.WithMessage("plugins are not supported by Berth")
	}
	list := func(_ context.Context, w http.ResponseWriter, _ *http.Request, _ map[string]string) error {
		return httputils.WriteJSON(w, http.StatusOK, []any{})
	}
	return []router.Route{
		{Method: http.MethodGet, Path: "/plugins", Handler: list},
		{Method: http.MethodGet, Path: "/plugins/privileges", Handler: unsupported},
		{Method: http.MethodPost, Path: "/plugins/pull", Handler: unsupported},
		{Method: http.MethodPost, Path: "/plugins/create", Handler: unsupported},
		{Method: http.MethodGet, Path: "/plugins/{name:.*}/json", Handler: notFound},
		{Method: http.MethodDelete, Path: "/plugins/{name:.*}", Handler: notFound},
		{Method: http.MethodPost, Path: "/plugins/{name:.*}/enable", Handler: notFound},
		{Method: http.MethodPost, Path: "/plugins/{name:.*}/disable", Handler: notFound},
		{Method: http.MethodPost, Path: "/plugins/{name:.*}/upgrade", Handler: notFound},
		{Method: http.MethodPost, Path: "/plugins/{name:.*}/push", Handler: notFound},
		{Method: http.MethodPost, Path: "/plugins/{name:.*}/set", Handler: notFound},
	}
}
