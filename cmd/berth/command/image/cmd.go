package image

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

// NewCommand returns `berth image` and its subcommands.
func NewCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage images",
		Args:  command.UnknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newHistoryCommand(cli, "history [OPTIONS] IMAGE"),
		newImportCommand(cli, "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]"),
		newInspectCommand(cli),
		newLoadCommand(cli, "load [OPTIONS]"),
		newListCommand(cli, "ls [OPTIONS] [REPOSITORY[:TAG]]", "list"),
		newPruneCommand(cli),
		newPullCommand(cli, "pull [OPTIONS] NAME[:TAG|@DIGEST]"),
		newPushCommand(cli, "push [OPTIONS] NAME[:TAG]"),
		newRemoveCommand(cli, "rm [OPTIONS] IMAGE [IMAGE...]", "rmi", "remove"),
		newSaveCommand(cli, "save [OPTIONS] IMAGE [IMAGE...]"),
		newTagCommand(cli, "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
	)
	return cmd
}

// NewShortcuts returns the top-level spellings docker keeps for the image
// commands: `berth images`, `berth rmi`, `berth pull` and so on.
func NewShortcuts(cli *command.Cli) []*cobra.Command {
	return []*cobra.Command{
		newListCommand(cli, "images [OPTIONS] [REPOSITORY[:TAG]]"),
		newRemoveCommand(cli, "rmi [OPTIONS] IMAGE [IMAGE...]"),
		newTagCommand(cli, "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"),
		newHistoryCommand(cli, "history [OPTIONS] IMAGE"),
		newLoadCommand(cli, "load [OPTIONS]"),
		newSaveCommand(cli, "save [OPTIONS] IMAGE [IMAGE...]"),
		newImportCommand(cli, "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]"),
		newPullCommand(cli, "pull [OPTIONS] NAME[:TAG|@DIGEST]"),
		newPushCommand(cli, "push [OPTIONS] NAME[:TAG]"),
	}
}

func newListCommand(cli *command.Cli, use string, aliases ...string) *cobra.Command {
	var o listOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   "List images",
		Args:    command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.match = args[0]
			}
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
	f.BoolVarP(&o.all, "all", "a", false, "Show all images (default hides intermediate images)")
	f.BoolVar(&o.digests, "digests", false, "Show digests")
	f.VarP(filters, "filter", "f", "Filter output based on conditions provided")
	f.StringVar(&o.format, "format", "", formatter.Help)
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	_ = cmd.RegisterFlagCompletionFunc("filter", completeFilterKeys)
	return cmd
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.refs = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runInspect(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeImageNames(cli, -1),
	}
	cmd.Flags().StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	return cmd
}

func newHistoryCommand(cli *command.Cli, use string) *cobra.Command {
	var o historyOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ref = args[0]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runHistory(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeImageNames(cli, 1),
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", formatter.Help)
	// docker's -H shorthand is taken by berth's global -H/--host, which
	// (unlike docker's) is accepted after the subcommand too.
	f.BoolVar(&o.human, "human", true, "Print sizes and dates in human readable format")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only show image IDs")
	return cmd
}

func newRemoveCommand(cli *command.Cli, use string, aliases ...string) *cobra.Command {
	var o removeOptions
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   "Remove one or more images",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.refs = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRemove(cmd.Context(), api, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: completeImageNames(cli, -1),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "f", false, "Force removal of the image")
	f.BoolVar(&o.noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var o pruneOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
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
	f.BoolVarP(&o.all, "all", "a", false, "Remove all unused images, not just dangling ones")
	f.Var(filters, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	f.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	_ = cmd.RegisterFlagCompletionFunc("filter", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"label=", "label!=", "until="}, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func newTagCommand(cli *command.Cli, use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runTag(cmd.Context(), api, args[0], args[1])
		},
		ValidArgsFunction: completeImageNames(cli, 2),
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newLoadCommand(cli *command.Cli, use string) *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Load an image from a tar archive or STDIN",
		Args:  command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runLoad(cmd.Context(), api, cli.In, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringVarP(&o.input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func newSaveCommand(cli *command.Cli, use string) *cobra.Command {
	var o saveOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.refs = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runSave(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeImageNames(cli, -1),
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func newImportCommand(cli *command.Cli, use string) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.MatchAll(command.RequiresMinArgs(1), command.RequiresMaxArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.source = args[0]
			if len(args) > 1 {
				o.ref = args[1]
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runImport(cmd.Context(), api, cli.In, cli.Out, o)
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return nil, cobra.ShellCompDirectiveDefault // a file
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
	}
	f := cmd.Flags()
	f.VarP((*listOpt)(&o.changes), "change", "c", "Apply Dockerfile instruction to the created image")
	f.StringVarP(&o.message, "message", "m", "", "Set commit message for imported image")
	f.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

func newPullCommand(cli *command.Cli, use string) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.remote = args[0]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPull(cmd.Context(), api, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all-tags", "a", false, "Download all tagged images in the repository")
	f.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func newPushCommand(cli *command.Cli, use string) *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   use,
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.remote = args[0]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPush(cmd.Context(), api, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: completeImageNames(cli, 1),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all-tags", "a", false, "Push all tags of an image to the repository")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// exactArgs accepts exactly n arguments, worded like the validators in
// package command.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		what := "argument"
		if n != 1 {
			what += "s"
		}
		return command.StatusError{
			Status: fmt.Sprintf("%q requires exactly %d %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
				cmd.CommandPath(), n, what, cmd.CommandPath(), cmd.UseLine(), cmd.Short),
			StatusCode: command.UsageStatus,
		}
	}
}

// listOpt is a repeatable string flag shown as "list" in --help, as
// docker's -c/--change is. Unlike a string slice it does not split on
// commas, which Dockerfile instructions contain.
type listOpt []string

func (l *listOpt) Set(v string) error { *l = append(*l, v); return nil }
func (l *listOpt) Type() string       { return "list" }
func (l *listOpt) String() string     { return "" }

// completeImageNames offers the daemon's image names (repo:tag) for at
// most limit arguments (-1: any number), skipping names already given. A
// daemon that cannot be reached just offers nothing.
func completeImageNames(cli *command.Cli, limit int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if limit >= 0 && len(args) >= limit {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		api, err := cli.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		res, err := api.ImageList(cmd.Context(), client.ImageListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return imageNames(res.Items, args), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFilterKeys offers the filter keys `image ls` understands.
func completeFilterKeys(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"before=", "dangling=", "label=", "reference=", "since=", "until="},
		cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
