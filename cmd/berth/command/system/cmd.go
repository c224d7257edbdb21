package system

import (
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// NewInfoCommand returns `berth info`.
func NewInfoCommand(cli *command.Cli) *cobra.Command {
	var o infoOptions
	cmd := &cobra.Command{
		Use:   "info [OPTIONS]",
		Short: "Display system-wide information",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.host, o.debug = cli.DaemonHost(), cli.Debug
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runInfo(cmd.Context(), api, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	return cmd
}

// NewVersionCommand returns `berth version`.
func NewVersionCommand(cli *command.Cli) *cobra.Command {
	var o versionOptions
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Berth version information",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runVersion(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	return cmd
}
