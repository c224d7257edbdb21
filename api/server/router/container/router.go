// Package container serves /containers, /commit and /exec: the container
// lifecycle, logs, stats, archives, and the hijacked attach and exec streams.
package container

import (
	"context"
	"encoding/binary"
	"net/http"
	"os"
	"sync"

	"github.com/moby/moby/api/types"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router"
)

// Router serves the container and exec endpoints from a Backend.
type Router struct {
	b   Backend
	log logrus.FieldLogger
	// cgroup2 says whether the host runs the unified hierarchy, which
	// decides the cgroup namespace default of API < 1.41 clients.
	cgroup2 bool
}

// New returns the container router. It logs stream failures (which can no
// longer be answered with a status) to the standard logger; see WithLogger.
func New(b Backend) *Router {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return &Router{b: b, log: logrus.StandardLogger(), cgroup2: err == nil}
}

// WithLogger sets the logger for failures after a response has begun.
func (cr *Router) WithLogger(l logrus.FieldLogger) *Router {
	if l != nil {
		cr.log = l
	}
	return cr
}

// Routes lists the container and exec endpoints.
func (cr *Router) Routes() []router.Route {
	return []router.Route{
		// HEAD
		{Method: http.MethodHead, Path: "/containers/{name:.*}/archive", Handler: cr.headArchive},
		// GET
		{Method: http.MethodGet, Path: "/containers/json", Handler: cr.list},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/export", Handler: cr.export},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/changes", Handler: cr.changes},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/json", Handler: cr.inspect},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/top", Handler: cr.top},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/logs", Handler: cr.logs},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/stats", Handler: cr.stats},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/attach/ws", Handler: cr.attachWebSocket},
		{Method: http.MethodGet, Path: "/containers/{name:.*}/archive", Handler: cr.getArchive},
		{Method: http.MethodGet, Path: "/exec/{id:.*}/json", Handler: cr.execInspect},
		// POST
		{Method: http.MethodPost, Path: "/containers/create", Handler: cr.create},
		{Method: http.MethodPost, Path: "/containers/prune", Handler: cr.prune},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/kill", Handler: cr.kill},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/pause", Handler: cr.pause},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/unpause", Handler: cr.unpause},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/restart", Handler: cr.restart},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/start", Handler: cr.start},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/stop", Handler: cr.stop},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/wait", Handler: cr.wait},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/resize", Handler: cr.resize},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/attach", Handler: cr.attach},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/exec", Handler: cr.execCreate},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/rename", Handler: cr.rename},
		{Method: http.MethodPost, Path: "/containers/{name:.*}/update", Handler: cr.update},
		{Method: http.MethodPost, Path: "/exec/{id:.*}/start", Handler: cr.execStart},
		{Method: http.MethodPost, Path: "/exec/{id:.*}/resize", Handler: cr.execResize},
		{Method: http.MethodPost, Path: "/commit", Handler: cr.commit},
		// PUT
		{Method: http.MethodPut, Path: "/containers/{name:.*}/archive", Handler: cr.putArchive},
		// DELETE
		{Method: http.MethodDelete, Path: "/containers/{name:.*}", Handler: cr.remove},
	}
}

// versionBefore reports whether the request's API version is older than v.
// Outside the version middleware (no version) the request counts as current.
func versionBefore(ctx context.Context, v string) bool {
	have := httputils.VersionFromContext(ctx)
	return have != "" && middleware.Compare(have, v) < 0
}

// streamContext is ctx, also cancelled when the server shuts down, for the
// requests that stream until something happens (logs -f, stats, wait,
// attach).
func streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if closing := httputils.Closing(ctx); closing != nil {
		go func() {
			select {
			case <-closing:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// mediaType is the Content-Type of an attach, exec or logs stream: the
// multiplexed type exists from API 1.42 on; older clients were always told
// raw-stream.
func mediaType(ctx context.Context, multiplexed bool) string {
	if multiplexed && !versionBefore(ctx, "1.42") {
		return types.MediaTypeMultiplexedStream
	}
	return types.MediaTypeRawStream
}

// Stream identifiers of Docker's multiplexed (stdcopy) framing.
const (
	streamStdout    = 1
	streamSystemErr = 3
)

// frame is p in one stdcopy frame of the given stream: an 8-byte header
// (stream, three zero bytes, big-endian length) and the payload.
func frame(stream byte, p []byte) []byte {
	b := make([]byte, 8+len(p))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:8], uint32(len(p)))
	copy(b[8:], p)
	return b
}

// flushWriter is a streaming response: the first write (or begin) sends 200
// with its Content-Type, and every write is flushed to the client at once.
// It is safe for concurrent writers (a backend copying stdout and stderr).
type flushWriter struct {
	mu          sync.Mutex
	w           http.ResponseWriter
	contentType string
	began       bool
}

func newFlushWriter(w http.ResponseWriter, contentType string) *flushWriter {
	return &flushWriter{w: w, contentType: contentType}
}

// begin sends the headers now, so that a client waiting on a silent stream
// (logs -f of a quiet container) knows the request was accepted.
func (f *flushWriter) begin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beginLocked()
	_ = http.NewResponseController(f.w).Flush()
}

func (f *flushWriter) beginLocked() {
	if f.began {
		return
	}
	f.began = true
	f.w.Header().Set("Content-Type", f.contentType)
	f.w.WriteHeader(http.StatusOK)
}

// Began reports whether the response has started.
func (f *flushWriter) Began() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.began
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beginLocked()
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	_ = http.NewResponseController(f.w).Flush()
	return n, nil
}
