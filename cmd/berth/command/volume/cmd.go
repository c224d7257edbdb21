package volume

import (
	"slices"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

// NewCommand returns `berth volume` and its subcommands.
func NewCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage volumes",
		Args:  command.UnknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCreateCommand(cli),
		newListCommand(cli),
		newInspectCommand(cli),
		newRemoveCommand(cli),
		newPruneCommand(cli),
	)
	return cmd
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	var o createOptions
	driverOpts, labels := opts.NewMapOpt(), opts.NewLabelOpt()
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if o.name != "" {
					return command.StatusError{Status: "conflicting options: cannot specify a volume-name through both --name and as a positional arg", StatusCode: 1}
				}
				o.name = args[0]
			}
			o.driverOpts, o.labels = driverOpts.Value(), labels.Value()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runCreate(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringVarP(&o.driver, "driver", "d", "local", "Specify volume driver name")
	f.StringVar(&o.name, "name", "", "Specify volume name")
	f.VarP(driverOpts, "opt", "o", "Set driver specific options")
	f.Var(labels, "label", "Set metadata for a volume")
	return cmd
}

func newListCommand(cli *command.Cli) *cobra.Command {
	var o listOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.filters = filters.Value()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runList(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display volume names")
	f.StringVar(&o.format, "format", "", formatter.Help)
	f.VarP(filters, "filter", "f", `Provide filter values (e.g. "dangling=true")`)
	_ = cmd.RegisterFlagCompletionFunc("filter", completeFilterKeys)
	return cmd
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "Display detailed information on one or more volumes",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.names = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runInspect(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeVolumeNames(cli),
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	return cmd
}

func newRemoveCommand(cli *command.Cli) *cobra.Command {
	var o removeOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more volumes",
		Long:    "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.names = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRemove(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeVolumeNames(cli),
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var o pruneOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.filters = filters.Value()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPrune(cmd.Context(), api, cli.In, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	f.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	f.Var(filters, "filter", `Provide filter values (e.g. "label=<label>")`)
	_ = cmd.RegisterFlagCompletionFunc("filter", completeFilterKeys)
	return cmd
}

// completeVolumeNames offers the daemon's volume names not already on the
// command line. A daemon that cannot be reached just offers nothing.
func completeVolumeNames(cli *command.Cli) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		api, err := cli.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		res, err := api.VolumeList(cmd.Context(), client.VolumeListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, v := range res.Items {
			if !slices.Contains(args, v.Name) {
				names = append(names, v.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFilterKeys offers the filter keys berthd understands for volumes.
func completeFilterKeys(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"dangling=", "driver=", "label=", "name="}, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
