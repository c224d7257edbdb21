// Package image serves /images.
package image

import (
	"context"
	"net/http"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/router"
	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/api/types/progress"
)

// Router serves the image endpoints from a Backend.
type Router struct{ b Backend }

// New returns the image router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes lists the image endpoints.
func (ir *Router) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: "/images/json", Handler: ir.list},
		{Method: http.MethodGet, Path: "/images/get", Handler: ir.getMany},
		{Method: http.MethodGet, Path: "/images/{name:.*}/get", Handler: ir.getOne},
		{Method: http.MethodGet, Path: "/images/{name:.*}/history", Handler: ir.history},
		{Method: http.MethodGet, Path: "/images/{name:.*}/json", Handler: ir.inspect},
		{Method: http.MethodPost, Path: "/images/create", Handler: ir.create},
		{Method: http.MethodPost, Path: "/images/load", Handler: ir.load},
		{Method: http.MethodPost, Path: "/images/prune", Handler: ir.prune},
		{Method: http.MethodPost, Path: "/images/{name:.*}/tag", Handler: ir.tag},
		{Method: http.MethodDelete, Path: "/images/{name:.*}", Handler: ir.remove},
	}
}

func (ir *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// API < 1.41 clients may pass the filter as a parameter of its own.
	if name := r.Form.Get("filter"); name != "" {
		f.Add("reference", name)
	}
	imgs, err := ir.b.Images(ctx, ListOptions{
		All:        httputils.BoolValue(r, "all"),
		Filters:    f,
		SharedSize: httputils.BoolValue(r, "shared-size"),
	})
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, imgs)
}

func (ir *Router) inspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	img, err := ir.b.ImageInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, img)
}

func (ir *Router) history(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	h, err := ir.b.ImageHistory(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, h)
}

func (ir *Router) tag(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if err := ir.b.ImageTag(ctx, vars["name"], r.Form.Get("repo"), r.Form.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (ir *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	if strings.TrimSpace(name) == "" {
		return cerrdefs.ErrInvalidArgument.WithMessage("image name cannot be blank")
	}
	resp, err := ir.b.ImageDelete(ctx, name, httputils.BoolValue(r, "force"), !httputils.BoolValue(r, "noprune"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}

func (ir *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := ir.b.ImagesPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

// create is `docker import` (fromSrc) or `docker pull` (fromImage).
func (ir *Router) create(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	switch {
	case r.Form.Get("fromImage") != "":
		return cerrdefs.ErrNotImplemented.WithMessage("pulling images from a registry is not implemented yet; use docker load or docker import")
	case r.Form.Get("fromSrc") == "":
		return cerrdefs.ErrInvalidArgument.WithMessage("either fromImage or fromSrc is required")
	case r.Form.Get("fromSrc") != "-":
		return cerrdefs.ErrNotImplemented.WithMessage("importing from a URL is not supported; download the archive and import it from a file or stdin")
	}
	out := httputils.NewJSONStream(w)
	id, err := ir.b.ImageImport(ctx, r.Body, ImportOptions{
		Repo:     r.Form.Get("repo"),
		Tag:      r.Form.Get("tag"),
		Message:  r.Form.Get("message"),
		Platform: r.Form.Get("platform"),
		Changes:  r.Form["changes"],
	}, out)
	if err != nil {
		return streamError(out, err)
	}
	return out.WriteProgress(progress.Progress{Action: id})
}

func (ir *Router) load(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	stream := httputils.NewJSONStream(w)
	var out progress.Output = stream
	if httputils.BoolValue(r, "quiet") {
		out = progress.Discard
	}
	loaded, err := ir.b.ImageLoad(ctx, r.Body, out)
	if err != nil {
		return streamError(stream, err)
	}
	for _, line := range loaded {
		if err := stream.Stream(line + "\n"); err != nil {
			return nil
		}
	}
	return nil
}

func (ir *Router) getMany(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	return ir.export(ctx, w, r.Form["names"])
}

func (ir *Router) getOne(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	return ir.export(ctx, w, []string{vars["name"]})
}

func (ir *Router) export(ctx context.Context, w http.ResponseWriter, names []string) error {
	if len(names) == 0 {
		return cerrdefs.ErrInvalidArgument.WithMessage("no images named: pass at least one name")
	}
	lw := &lazyTarWriter{w: w}
	err := ir.b.ImageExport(ctx, names, lw)
	if err != nil && lw.began {
		// The archive is already on its way: cutting it short is the only
		// signal left; the client sees a truncated tar.
		panic(http.ErrAbortHandler)
	}
	return err
}

// lazyTarWriter sends the tar header and 200 on the first write only, so
// that an error before any byte becomes a proper error response.
type lazyTarWriter struct {
	w     http.ResponseWriter
	began bool
}

func (l *lazyTarWriter) Write(p []byte) (int, error) {
	if !l.began {
		l.w.Header().Set("Content-Type", "application/x-tar")
		l.w.WriteHeader(http.StatusOK)
		l.began = true
	}
	return l.w.Write(p)
}

// streamError answers err as a status code while nothing was streamed, and
// as the stream's last message after.
func streamError(s *httputils.JSONStream, err error) error {
	if !s.Began() {
		return err
	}
	_ = s.Error(err)
	return nil
}
