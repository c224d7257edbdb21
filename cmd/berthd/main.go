// Command berthd is the Berth daemon: it serves the Docker Engine API on a
// unix socket and enforces the per-daemon volume quota.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/api/server/middleware"
	"github.com/berth-engine/berth/api/server/router/plugin"
	"github.com/berth-engine/berth/api/server/router/swarm"
	systemrouter "github.com/berth-engine/berth/api/server/router/system"
	volumerouter "github.com/berth-engine/berth/api/server/router/volume"
	"github.com/berth-engine/berth/daemon"
	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/internal/version"
)

func main() {
	cfg := config.Default()
	var sock string
	cmd := &cobra.Command{
		Use:           "berthd",
		Short:         "The Berth container engine daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(*cobra.Command, []string) error {
			return run(*cfg, sock)
		},
	}
	cmd.Flags().StringVar(&sock, "sock", "/run/berth.sock", "socket path")
	cmd.Flags().StringVar(&cfg.DataRoot, "data-root", cfg.DataRoot, "data root")
	cmd.Flags().IntVar(&cfg.MaxVolumes, "max-volumes", 0, "max volumes")
	cmd.Flags().BoolVar(&cfg.Debug, "debug", false, "debug")
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func run(cfg config.Config, sock string) error {
	log := logrus.New()
	if cfg.Debug {
		log.SetLevel(logrus.DebugLevel)
	}
	d, err := daemon.New(cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	srv := server.New(server.Config{
		Versions: middleware.Versions{Min: version.MinAPIVersion, Max: version.APIVersion, Server: version.Version},
		Log:      log,
	}, systemrouter.New(d), volumerouter.New(d), swarm.New(), plugin.New())
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Info("API listening on " + sock)
	return srv.Serve([]net.Listener{l})
}
