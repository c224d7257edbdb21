// Package server is Berth's Engine API server: a gorilla/mux router over the
// resource routers, each route served both as /path and /vX.Y/path, wrapped in
// version, recovery and logging middleware, on any number of listeners.
package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/berth-engine/berth/api/server/httputils"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router"
)

// Config configures a Server.
type Config struct {
	Versions middleware.Versions
	Log      *logrus.Logger
	// Profiler serves Go's profiles under /debug/pprof/, for the daemon's
	// --debug mode.
	Profiler bool
}

// Server serves the API.
type Server struct {
	log     *logrus.Logger
	handler http.Handler

	mu      sync.Mutex
	servers []*http.Server
	// base is the parent context of every request. It carries the closing
	// channel, closed at shutdown so that streaming requests (events,
	// logs -f) end while ordinary ones run to completion.
	base      context.Context
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds the server's handler from the routers.
func New(cfg Config, routers ...router.Router) *Server {
	m := mux.NewRouter()
	for _, rt := range routers {
		for _, r := range rt.Routes() {
			h := makeHandler(cfg, r.Handler)
			m.Path("/v{version:[0-9][0-9.]*}" + r.Path).Methods(r.Method).Handler(h)
			m.Path(r.Path).Methods(r.Method).Handler(h)
		}
	}
	if cfg.Profiler {
		m.PathPrefix("/debug/pprof/").Methods(http.MethodGet).Handler(profiler())
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputils.WriteError(w, r, cfg.Log, cerrdefs.ErrNotFound.WithMessage("page not found"))
	})
	m.NotFoundHandler = notFound
	m.MethodNotAllowedHandler = notFound
	closing := make(chan struct{})
	return &Server{
		log:     cfg.Log,
		handler: middleware.Outer(cfg.Log, m),
		base:    httputils.WithClosing(context.Background(), closing),
		closing: closing,
	}
}

func makeHandler(cfg Config, h httputils.APIFunc) http.Handler {
	h = middleware.Version(cfg.Versions, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(r.Context(), w, r, mux.Vars(r)); err != nil {
			httputils.WriteError(w, r, cfg.Log, err)
		}
	})
}

// profiler serves net/http/pprof's pages: the index (which also serves each
// named profile, /debug/pprof/heap and the like) and the special ones.
func profiler() http.Handler {
	special := map[string]http.HandlerFunc{
		"/debug/pprof/cmdline": pprof.Cmdline,
		"/debug/pprof/profile": pprof.Profile,
		"/debug/pprof/symbol":  pprof.Symbol,
		"/debug/pprof/trace":   pprof.Trace,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := special[r.URL.Path]; ok {
			h(w, r)
			return
		}
		pprof.Index(w, r)
	})
}

// Handler is the whole API as one http.Handler (tests use it directly).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on every listener until Shutdown, and returns the first
// serving error other than a clean close.
func (s *Server) Serve(listeners []net.Listener) error {
	// Register every server before serving any, so that a concurrent
	// Shutdown either sees them all or none; an http.Server shut down before
	// its Serve returns ErrServerClosed at once.
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		return nil
	default:
	}
	servers := make([]*http.Server, len(listeners))
	for i := range listeners {
		servers[i] = &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: 30 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return s.base },
		}
	}
	s.servers = append(s.servers, servers...)
	s.mu.Unlock()

	errc := make(chan error, len(listeners))
	for i, l := range listeners {
		go func(srv *http.Server, l net.Listener) {
			err := srv.Serve(l)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}(servers[i], l)
	}
	var first error
	for range listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
			s.Shutdown(context.Background())
		}
	}
	return first
}

// Shutdown stops accepting, ends streaming requests, and waits for the
// requests in flight to finish or ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closeOnce.Do(func() { close(s.closing) })
	servers := s.servers
	s.mu.Unlock()
	var first error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
