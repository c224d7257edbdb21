package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/api/server/middleware"
	containerrouter "github.com/berth-engine/berth/api/server/router/container"
	imagerouter "github.com/berth-engine/berth/api/server/router/image"
	networkrouter "github.com/berth-engine/berth/api/server/router/network"
	"github.com/berth-engine/berth/api/server/router/plugin"
	"github.com/berth-engine/berth/api/server/router/swarm"
	systemrouter "github.com/berth-engine/berth/api/server/router/system"
	volumerouter "github.com/berth-engine/berth/api/server/router/volume"
	"github.com/berth-engine/berth/daemon"
	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/daemon/listeners"
	"github.com/berth-engine/berth/internal/version"
)

// shutdownTimeout bounds how long requests in flight may run after SIGTERM.
const shutdownTimeout = 15 * time.Second

// options are what berthd needs to (re)load its configuration: the defaults
// with the flags applied, the flags (to tell which were set), and the file.
type options struct {
	base           config.Config
	flags          *pflag.FlagSet
	configFile     string
	configRequired bool
}

func (o options) load() (config.Config, error) {
	return config.Load(o.base, o.flags, o.configFile, o.configRequired)
}

// run starts berthd and serves until SIGTERM or SIGINT.
func run(o options) (err error) {
	// Catch signals first: one arriving while we start is handled once we
	// serve, instead of killing us half-started.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	cfg, err := o.load()
	if err != nil {
		return err
	}
	log := logrus.New()
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: time.RFC3339Nano})
	setLevel(log, cfg)

	// The lock comes before anything else under the data root, so that a
	// second berthd cannot touch the first one's state or sockets.
	lock, err := lockDataRoot(cfg.DataRoot)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := os.MkdirAll(cfg.ExecRoot, 0o700); err != nil {
		return fmt.Errorf("creating exec root: %w", err)
	}
	removePidfile, err := writePidfile(cfg.Pidfile)
	if err != nil {
		return err
	}
	defer removePidfile()

	// Listeners before the daemon: a socket problem fails the start before
	// any state is opened. Connections wait in the backlog until we serve.
	ls, err := listeners.Init(cfg.Hosts, listeners.Options{
		Group:         cfg.Group,
		GroupRequired: cfg.Group != config.DefaultGroup,
		InsecureTCP:   cfg.InsecureTCP,
		Log:           log,
	})
	if err != nil {
		return err
	}
	defer closeListeners(ls)

	d, err := daemon.New(cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the daemon: %w", cerr)
		}
	}()

	srv := server.New(server.Config{
		Versions: middleware.Versions{Min: version.MinAPIVersion, Max: version.APIVersion, Server: version.Version},
		Log:      log,
		Profiler: cfg.Debug,
	}, systemrouter.New(d), volumerouter.New(d), imagerouter.New(d), containerrouter.New(d), networkrouter.New(d), swarm.New(), plugin.New())
	accepting, ls := watchAccept(ls)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ls) }()
	select {
	case <-accepting:
	case err := <-serveErr:
		return fmt.Errorf("serving the API: %w", err)
	}
	notify(log, sddaemon.SdNotifyReady)
	log.WithField("version", version.Version).Info("berthd has completed initialization")

	for {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serving the API: %w", err)
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reload(o, d, log)
				continue
			}
			log.Infof("received %s: shutting down", unix.SignalName(s.(syscall.Signal)))
			notify(log, sddaemon.SdNotifyStopping)
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			if err := srv.Shutdown(ctx); err != nil {
				log.WithError(err).Warn("requests still in flight after the shutdown timeout")
			}
			cancel()
			return nil
		}
	}
}

// reload re-reads daemon.json and applies its live settings; a bad file
// keeps the configuration in force.
func reload(o options, d *daemon.Daemon, log *logrus.Logger) {
	notify(log, fmt.Sprintf("%s\nMONOTONIC_USEC=%d", sddaemon.SdNotifyReloading, monotonicUsec()))
	defer notify(log, sddaemon.SdNotifyReady)
	next, err := o.load()
	if err != nil {
		log.WithError(err).Error("reloading the configuration failed; keeping the current one")
		return
	}
	cfg, ignored := config.Reload(d.Config(), next)
	for _, key := range ignored {
		log.Warnf("reload: %s changed but needs a restart to take effect; ignored", key)
	}
	// Level last, so that the reload's own log line shows at the old level.
	d.Reload(cfg)
	setLevel(log, cfg)
}

func setLevel(log *logrus.Logger, cfg config.Config) {
	// Validate has checked the level; ParseLevel knows every one it allows.
	level, _ := logrus.ParseLevel(cfg.Level())
	log.SetLevel(level)
}

// notify tells systemd our state when it started us with Type=notify; it is
// a no-op otherwise.
func notify(log *logrus.Logger, state string) {
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		log.WithError(err).Debug("sd_notify failed")
	}
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// closeListeners closes ls; the server has usually done so already.
// Closing a unix listener berthd created unlinks its socket file; sockets
// from systemd (fd://) are systemd's and stay for the next activation.
func closeListeners(ls []net.Listener) {
	for _, l := range ls {
		_ = l.Close()
	}
}

// watchAccept wraps ls so that the returned channel closes once every
// listener is in Accept: the server is then truly serving, so READY=1 is
// honest and a Shutdown cannot miss a listener still being registered.
func watchAccept(ls []net.Listener) (<-chan struct{}, []net.Listener) {
	var wg sync.WaitGroup
	out := make([]net.Listener, len(ls))
	for i, l := range ls {
		wg.Add(1)
		out[i] = &acceptWatcher{Listener: l, first: wg.Done}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done, out
}

type acceptWatcher struct {
	net.Listener
	once  sync.Once
	first func()
}

func (l *acceptWatcher) Accept() (net.Conn, error) {
	l.once.Do(l.first)
	return l.Listener.Accept()
}
