package container

import (
	"context"
	"net/http"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/server/httputils"
)

func (cr *Router) execCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var req container.ExecCreateRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if len(req.Cmd) == 0 {
		return cerrdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	if versionBefore(ctx, "1.42") {
		req.ConsoleSize = nil // not in the API before 1.42
	}
	id, err := cr.b.ExecCreate(ctx, vars["name"], &req)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

// execStart starts an exec: detached it answers 200 with no body once the
// process runs; attached it takes the connection over like attach.
func (cr *Router) execStart(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var req container.ExecStartRequest
	if err := httputils.ReadJSON(r, &req); err != nil {
		return err
	}
	if req.ConsoleSize != nil && (versionBefore(ctx, "1.42") || !req.Tty) {
		// Not in the API before 1.42, and meaningless without a TTY.
		req.ConsoleSize = nil
	}
	id := vars["id"]
	if req.Detach {
		if err := cr.b.ExecStart(ctx, id, ExecStartOptions{Detach: true, ConsoleSize: req.ConsoleSize}); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()
	// Whether the exec reads stdin was decided at create; the backend
	// ignores (and closes) stdin otherwise.
	h := newHijacker(ctx, w, r, true)
	err := cr.b.ExecStart(ctx, id, ExecStartOptions{Streams: h.streams, ConsoleSize: req.ConsoleSize})
	return h.finish(err, cr.log.WithField("exec", id))
}

func (cr *Router) execInspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	e, err := cr.b.ExecInspect(ctx, vars["id"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, e)
}

func (cr *Router) execResize(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	height, width, err := parseResize(r)
	if err != nil {
		return err
	}
	if err := cr.b.ExecResize(ctx, vars["id"], height, width); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
