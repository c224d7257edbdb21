// Command berthd is the Berth daemon: it serves the Docker Engine API on the
// -H hosts and enforces the per-daemon volume quota. This file is the cobra
// glue; run.go is the daemon's life from lock to exit.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/daemon/config"
	"github.com/berth-engine/berth/internal/version"
)

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	base := config.Default()
	var o options
	cmd := &cobra.Command{
		Use:           "berthd",
		Short:         "The Berth container engine daemon",
		Args:          cobra.NoArgs,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.base = *base
			o.flags = cmd.Flags()
			o.configRequired = cmd.Flags().Changed("config-file")
			return run(o)
		},
	}
	cmd.SetVersionTemplate("Berth version {{.Version}}, build " + version.GitCommit + "\n")
	cmd.Flags().StringVar(&o.configFile, "config-file", config.DefaultConfigFile, "Daemon configuration file (daemon.json)")
	config.InstallFlags(cmd.Flags(), base)
	return cmd
}
