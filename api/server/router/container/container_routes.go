package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	distref "github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/types/filters"
)

// validName is Docker's container name rule (at least two characters, an
// optional leading slash).
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	return nil
}

func (cr *Router) list(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	// API < 1.24 took since and before as parameters of their own; they
	// are the filters of the same names.
	for _, k := range []string{"since", "before"} {
		if v := r.Form.Get(k); v != "" {
			f.Add(k, v)
		}
	}
	opts := ListOptions{
		All:     httputils.BoolValue(r, "all"),
		Size:    httputils.BoolValue(r, "size"),
		Filters: f,
	}
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for limit: %q is not an integer", s))
		}
		opts.Limit = n
	}
	cs, err := cr.b.Containers(ctx, opts)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []container.Summary{}
	}
	return httputils.WriteJSON(w, http.StatusOK, cs)
}

func (cr *Router) inspect(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	c, err := cr.b.ContainerInspect(ctx, vars["name"], httputils.BoolValue(r, "size"))
	if err != nil {
		return err
	}
	if versionBefore(ctx, "1.52") {
		return httputils.WriteJSON(w, http.StatusOK, withLegacyNetworkSettings(c))
	}
	return httputils.WriteJSON(w, http.StatusOK, c)
}

func (cr *Router) top(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	t, err := cr.b.ContainerTop(ctx, vars["name"], r.Form.Get("ps_args"))
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusOK, t)
}

func (cr *Router) changes(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	ch, err := cr.b.ContainerChanges(ctx, vars["name"])
	if err != nil {
		return err
	}
	if ch == nil {
		ch = []container.FilesystemChange{}
	}
	return httputils.WriteJSON(w, http.StatusOK, ch)
}

// logs streams a container's log. The parameters are checked before the
// backend runs; once it calls Output the response is 200 with the stream's
// type, and a later failure is reported in the stream, as Docker does.
func (cr *Router) logs(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	stdout, stderr := httputils.BoolValue(r, "stdout"), httputils.BoolValue(r, "stderr")
	if !stdout && !stderr {
		return cerrdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream")
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()

	var out *flushWriter
	var multiplexed bool
	err := cr.b.ContainerLogs(ctx, vars["name"], LogsOptions{
		Output: func(mux bool) io.Writer {
			if out == nil {
				multiplexed = mux
				out = newFlushWriter(w, mediaType(ctx, mux))
				out.begin()
			}
			return out
		},
		Stdout:     stdout,
		Stderr:     stderr,
		Follow:     httputils.BoolValue(r, "follow"),
		Timestamps: httputils.BoolValue(r, "timestamps"),
		Details:    httputils.BoolValue(r, "details"),
		Since:      r.Form.Get("since"),
		Until:      r.Form.Get("until"),
		Tail:       r.Form.Get("tail"),
	})
	switch {
	case out == nil && err != nil:
		return err
	case out == nil:
		newFlushWriter(w, mediaType(ctx, false)).begin()
	case err != nil && ctx.Err() == nil && !isGone(err):
		cr.log.WithError(err).WithField("container", vars["name"]).Warn("log stream failed")
		msg := []byte(fmt.Sprintf("Error grabbing logs: %v\n", err))
		if multiplexed {
			msg = frame(streamSystemErr, msg)
		}
		_, _ = out.Write(msg)
	}
	return nil
}

// export sends the container's filesystem as a tar. A failure after the
// first byte can only cut the archive short.
func (cr *Router) export(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	out := &lazyWriter{w: w, contentType: "application/x-tar"}
	err := cr.b.ContainerExport(ctx, vars["name"], out)
	if err != nil && out.began {
		cr.log.WithError(err).WithField("container", vars["name"]).Warn("export failed after the archive began")
		panic(http.ErrAbortHandler)
	}
	if err == nil && !out.began {
		out.start()
	}
	return err
}

// lazyWriter sends 200 and its Content-Type on the first write only, so
// that an error before any byte becomes a proper error response.
type lazyWriter struct {
	w           http.ResponseWriter
	contentType string
	began       bool
}

func (l *lazyWriter) start() {
	l.began = true
	l.w.Header().Set("Content-Type", l.contentType)
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.began {
		l.start()
	}
	return l.w.Write(p)
}

// stats sends one sample (stream=false) or a sample per interval, one JSON
// object per line, each flushed.
func (cr *Router) stats(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	stream := true
	if r.Form.Get("stream") != "" {
		stream = httputils.BoolValue(r, "stream")
	}
	oneShot := false
	if !versionBefore(ctx, "1.41") {
		oneShot = httputils.BoolValue(r, "one-shot")
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()

	out := newFlushWriter(w, "application/json")
	enc := json.NewEncoder(out)
	err := cr.b.ContainerStats(ctx, vars["name"], StatsOptions{
		Stream:  stream,
		OneShot: oneShot,
		Output:  func(s *container.StatsResponse) error { return enc.Encode(s) },
	})
	if err != nil && !out.Began() {
		return err
	}
	if err != nil && ctx.Err() == nil {
		cr.log.WithError(err).WithField("container", vars["name"]).Debug("stats stream ended")
	}
	if !out.Began() {
		out.begin()
	}
	return nil
}

// parseSize reads the h or w of a resize.
func parseSize(r *http.Request, key string) (uint16, error) {
	s := r.Form.Get(key)
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for %s: %q is not a terminal size (an integer from 0 to 65535)", key, s))
	}
	return uint16(n), nil
}

func parseResize(r *http.Request) (h, w uint16, err error) {
	if err := httputils.ParseForm(r); err != nil {
		return 0, 0, err
	}
	if h, err = parseSize(r, "h"); err != nil {
		return 0, 0, err
	}
	if w, err = parseSize(r, "w"); err != nil {
		return 0, 0, err
	}
	return h, w, nil
}

func (cr *Router) resize(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	height, width, err := parseResize(r)
	if err != nil {
		return err
	}
	if err := cr.b.ContainerResize(ctx, vars["name"], height, width); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// noContent answers 204, or 304 when the backend says there was nothing to
// do (start of a running container, stop of a stopped one).
func noContent(w http.ResponseWriter, err error) error {
	switch {
	case cerrdefs.IsNotModified(err):
		w.WriteHeader(http.StatusNotModified)
		return nil
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) start(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	// A host config in the start body went away with API 1.24; an empty
	// JSON object (or null) is still tolerated. -1 is a chunked body.
	if r.ContentLength > 7 || r.ContentLength == -1 {
		return cerrdefs.ErrInvalidArgument.WithMessage("starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
	}
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	if r.Form.Get("checkpoint") != "" {
		return cerrdefs.ErrNotImplemented.WithMessage("starting a container from a checkpoint is not supported")
	}
	return noContent(w, cr.b.ContainerStart(ctx, vars["name"]))
}

// stopOptions reads t and (API 1.42 on) signal of a stop or restart.
func stopOptions(ctx context.Context, r *http.Request) (StopOptions, error) {
	var o StopOptions
	if err := httputils.ParseForm(r); err != nil {
		return o, err
	}
	if !versionBefore(ctx, "1.42") {
		o.Signal = r.Form.Get("signal")
	}
	if s := r.Form.Get("t"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return o, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for t: %q is not an integer", s))
		}
		o.Timeout = &n
	}
	return o, nil
}

func (cr *Router) stop(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	o, err := stopOptions(ctx, r)
	if err != nil {
		return err
	}
	return noContent(w, cr.b.ContainerStop(ctx, vars["name"], o))
}

func (cr *Router) restart(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	o, err := stopOptions(ctx, r)
	if err != nil {
		return err
	}
	if err := cr.b.ContainerRestart(ctx, vars["name"], o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) kill(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	name := vars["name"]
	if err := cr.b.ContainerKill(ctx, name, r.Form.Get("signal")); err != nil {
		return fmt.Errorf("cannot kill container: %s: %w", name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) pause(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	if err := cr.b.ContainerPause(ctx, vars["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) unpause(ctx context.Context, w http.ResponseWriter, _ *http.Request, vars map[string]string) error {
	if err := cr.b.ContainerUnpause(ctx, vars["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wait answers 200 as soon as the backend has accepted the wait (API 1.30
// on), so that the client knows it is registered before it starts the
// container, and sends the result when the condition is met.
func (cr *Router) wait(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	legacy := versionBefore(ctx, "1.30") // no condition, headers with the result
	legacyRemoved := false               // API < 1.34: a failed removal sent no body
	cond := container.WaitConditionNotRunning
	if !legacy {
		if err := httputils.ParseForm(r); err != nil {
			return err
		}
		switch v := container.WaitCondition(r.Form.Get("condition")); v {
		case "", container.WaitConditionNotRunning:
		case container.WaitConditionNextExit:
			cond = v
		case container.WaitConditionRemoved:
			cond = v
			legacyRemoved = versionBefore(ctx, "1.34")
		default:
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid condition: %q", string(v)))
		}
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()

	ch, err := cr.b.ContainerWait(ctx, vars["name"], cond)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !legacy {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
	}
	var res container.WaitResponse
	var ok bool
	select {
	case res, ok = <-ch:
	case <-ctx.Done():
	}
	if !ok || (legacyRemoved && res.Error != nil) {
		// Nothing to say: the client sees an empty (failed) response.
		return nil
	}
	if res.Error != nil && res.Error.Message == "" {
		res.Error = nil
	}
	if legacy {
		return httputils.WriteJSON(w, http.StatusOK, res)
	}
	return json.NewEncoder(w).Encode(res)
}

func (cr *Router) remove(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	err := cr.b.ContainerRemove(ctx, vars["name"], RemoveOptions{
		RemoveVolumes: httputils.BoolValue(r, "v"),
		Force:         httputils.BoolValue(r, "force"),
		RemoveLink:    httputils.BoolValue(r, "link"),
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) rename(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	newName := r.Form.Get("name")
	if newName == "" || vars["name"] == "" {
		return cerrdefs.ErrInvalidArgument.WithMessage("Neither old nor new names may be empty")
	}
	if err := checkName(newName); err != nil {
		return err
	}
	if err := cr.b.ContainerRename(ctx, vars["name"], newName); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (cr *Router) update(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var u container.UpdateConfig
	if err := httputils.ReadJSON(r, &u); err != nil {
		return err
	}
	if versionBefore(ctx, "1.40") {
		u.PidsLimit = nil // not in the API before 1.40
	}
	if u.PidsLimit != nil && *u.PidsLimit <= 0 {
		// 0 and -1 (historically any negative value) are "unlimited".
		var unlimited int64
		u.PidsLimit = &unlimited
	}
	resp, err := cr.b.ContainerUpdate(ctx, vars["name"], &u)
	if err != nil {
		return err
	}
	if resp == nil {
		resp = &container.UpdateResponse{}
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{}
	}
	return httputils.WriteJSON(w, http.StatusOK, resp)
}

func (cr *Router) prune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	f, err := filters.Parse(r.Form.Get("filters"))
	if err != nil {
		return err
	}
	rep, err := cr.b.ContainersPrune(ctx, f)
	if err != nil {
		return err
	}
	if rep == nil {
		rep = &container.PruneReport{}
	}
	if rep.ContainersDeleted == nil {
		rep.ContainersDeleted = []string{}
	}
	return httputils.WriteJSON(w, http.StatusOK, rep)
}

// commit is `docker commit`: POST /commit?container=&repo=&tag=..., the
// image config (optional) as the body.
func (cr *Router) commit(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	var cfg *container.Config
	if err := httputils.ReadJSON(r, &cfg); err != nil {
		return err
	}
	name := r.Form.Get("container")
	if name == "" {
		return cerrdefs.ErrInvalidArgument.WithMessage("invalid container name or ID: value is empty")
	}
	repo, tag := r.Form.Get("repo"), r.Form.Get("tag")
	if err := checkCommitReference(repo, tag); err != nil {
		return err
	}
	pause := true
	if r.Form.Get("pause") != "" {
		pause = httputils.BoolValue(r, "pause")
	}
	id, err := cr.b.ContainerCommit(ctx, CommitOptions{
		Container: name,
		Repo:      repo,
		Tag:       tag,
		Comment:   r.Form.Get("comment"),
		Author:    r.Form.Get("author"),
		Pause:     pause,
		Changes:   r.Form["changes"],
		Config:    cfg,
	})
	if err != nil {
		return err
	}
	return httputils.WriteJSON(w, http.StatusCreated, container.CommitResponse{ID: id})
}

// checkCommitReference refuses what Docker refuses as a commit target: a
// malformed repository or tag, or a digest. No repo is an untagged image.
func checkCommitReference(repo, tag string) error {
	if repo == "" {
		return nil
	}
	named, err := distref.ParseNormalizedNamed(repo)
	if err != nil {
		return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", repo))
	}
	if _, ok := named.(distref.Digested); ok {
		return cerrdefs.ErrInvalidArgument.WithMessage("cannot commit to digest reference")
	}
	if tag != "" {
		if _, err := distref.WithTag(named, tag); err != nil {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag format: %s", tag))
		}
	}
	return nil
}

// attach is the hijacked POST /containers/{id}/attach.
func (cr *Router) attach(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := httputils.ParseForm(r); err != nil {
		return err
	}
	ctx, cancel := streamContext(ctx)
	defer cancel()
	stdin := httputils.BoolValue(r, "stdin")
	h := newHijacker(ctx, w, r, stdin)
	err := cr.b.ContainerAttach(ctx, vars["name"], AttachOptions{
		Streams:    h.streams,
		Stdin:      stdin,
		Stdout:     httputils.BoolValue(r, "stdout"),
		Stderr:     httputils.BoolValue(r, "stderr"),
		Logs:       httputils.BoolValue(r, "logs"),
		Stream:     httputils.BoolValue(r, "stream"),
		DetachKeys: r.Form.Get("detachKeys"),
	})
	return h.finish(err, cr.log.WithField("container", vars["name"]))
}

// isGone reports whether err is the client going away or the server
// shutting down, which is not worth reporting.
func isGone(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
