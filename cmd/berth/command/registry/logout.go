package registry

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// NewLogoutCommand returns `berth logout`.
func NewLogoutCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long:  "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			server := ""
			if len(args) > 0 {
				server = args[0]
			}
			return runLogout(cli.Out, ConfigPath(), server)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
}

// runLogout removes the credentials stored for server (Docker Hub when "")
// under any spelling of its address, as docker logout does; it needs no
// daemon.
func runLogout(out io.Writer, configPath, server string) error {
	shown := hostname(server)
	if server == "" || server == "docker.io" {
		server, shown = IndexServer, IndexServer
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if len(cfg.erase(server)) == 0 {
		fmt.Fprintf(out, "Not logged in to %s\n", shown)
		return nil
	}
	fmt.Fprintf(out, "Removing login credentials for %s\n", shown)
	return cfg.save()
}
