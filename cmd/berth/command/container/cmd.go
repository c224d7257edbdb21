// Package container implements `berth container` and its top-level
// shortcuts (run, ps, exec, logs...), with the docker CLI's flags, output
// and exit statuses. The run* functions hold the logic; this file only
// wires them to cobra.
package container

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

// NewCommand returns `berth container` and its subcommands.
func NewCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "container",
		Short: "Manage containers",
		Args:  command.UnknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newAttachCommand(cli), newCommitCommand(cli), newCpCommand(cli), newCreateCommand(cli),
		newExecCommand(cli), newExportCommand(cli), newInspectCommand(cli, "inspect [OPTIONS] CONTAINER [CONTAINER...]", false),
		newKillCommand(cli), newLogsCommand(cli), newPsCommand(cli, "ls [OPTIONS]", "ps", "list"),
		newPauseCommand(cli), newPortCommand(cli), newPruneCommand(cli), newRenameCommand(cli),
		newRestartCommand(cli), newRmCommand(cli, "remove"), newRunCommand(cli), newStartCommand(cli),
		newStatsCommand(cli), newStopCommand(cli), newTopCommand(cli), newUnpauseCommand(cli),
		newUpdateCommand(cli), newWaitCommand(cli),
	)
	return cmd
}

// NewShortcuts returns the top-level forms: `berth run`, `berth ps`...
// and `berth inspect`, which looks a name up as a container, then as an
// image, then as a volume.
func NewShortcuts(cli *command.Cli) []*cobra.Command {
	return []*cobra.Command{
		newAttachCommand(cli), newCommitCommand(cli), newCpCommand(cli), newCreateCommand(cli),
		newExecCommand(cli), newExportCommand(cli), newInspectCommand(cli, "inspect [OPTIONS] NAME|ID [NAME|ID...]", true),
		newKillCommand(cli), newLogsCommand(cli), newPsCommand(cli, "ps [OPTIONS]"),
		newPauseCommand(cli), newPortCommand(cli), newRenameCommand(cli),
		newRestartCommand(cli), newRmCommand(cli), newRunCommand(cli), newStartCommand(cli),
		newStatsCommand(cli), newStopCommand(cli), newTopCommand(cli), newUnpauseCommand(cli),
		newUpdateCommand(cli), newWaitCommand(cli),
	}
}

func cliStreams(cli *command.Cli) streams { return streams{in: cli.In, out: cli.Out, err: cli.Err} }

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return command.StatusError{
			Status: fmt.Sprintf("%q requires exactly %d %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
				cmd.CommandPath(), n, map[bool]string{true: "argument", false: "arguments"}[n == 1], cmd.CommandPath(), cmd.UseLine(), cmd.Short),
			StatusCode: command.UsageStatus,
		}
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return command.StatusError{
			Status: fmt.Sprintf("%q requires at least %d and at most %d arguments.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
				cmd.CommandPath(), lo, hi, cmd.CommandPath(), cmd.UseLine(), cmd.Short),
			StatusCode: command.UsageStatus,
		}
	}
}

// completeContainers offers container names (running only unless all).
func completeContainers(cli *command.Cli, all bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		api, err := cli.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return containerNames(cmd.Context(), api, all, args), cobra.ShellCompDirectiveNoFileComp
	}
}

func addCreateFlags(f *pflag.FlagSet, o *createOptions) {
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.StringVar(&o.platform, "platform", "", "Set platform if server is multi-platform capable")
	f.StringVar(&o.pull, "pull", pullMissing, `Pull image before running ("always", "missing", "never")`)
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
}

// parseForRun turns the flags into the request; errors are usage errors
// with docker's "Run 'berth run --help'" wording and status 125.
func parseForRun(cmd *cobra.Command, copts *containerOptions, args []string, name string) (*createConfig, error) {
	copts.image = args[0]
	if len(args) > 1 {
		copts.args = args[1:]
	}
	cfg, err := parse(copts, cmd.Flags().Changed)
	if err != nil {
		return nil, command.StatusError{Status: withHelp(err, name).Error(), StatusCode: 125}
	}
	return cfg, nil
}

func newRunCommand(cli *command.Cli) *cobra.Command {
	var o runOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validatePull(o.pull); err != nil {
				return command.StatusError{Status: withHelp(err, "run").Error(), StatusCode: 125}
			}
			cfg, err := parseForRun(cmd, copts, args, "run")
			if err != nil {
				return err
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRun(cmd.Context(), api, cliStreams(cli), cfg, o, copts.attach.Len())
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	addCreateFlags(f, &o.createOptions)
	copts = addContainerFlags(f)
	return cmd
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	var o createOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validatePull(o.pull); err != nil {
				return command.StatusError{Status: withHelp(err, "create").Error(), StatusCode: 125}
			}
			cfg, err := parseForRun(cmd, copts, args, "create")
			if err != nil {
				return err
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			id, err := createContainer(cmd.Context(), api, cliStreams(cli), cfg, o)
			if err != nil {
				return toStatusError(err, "create")
			}
			fmt.Fprintln(cli.Out, id)
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	addCreateFlags(f, &o)
	copts = addContainerFlags(f)
	return cmd
}

func newStartCommand(cli *command.Cli) *cobra.Command {
	var o startOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runStart(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVarP(&o.openStdin, "interactive", "i", false, "Attach container's STDIN")
	return cmd
}

func addStopFlags(cmd *cobra.Command, o *stopOptions) {
	f := cmd.Flags()
	f.StringVarP(&o.signal, "signal", "s", "", "Signal to send to the container")
	f.IntVarP(&o.timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	f.IntVar(&o.timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = f.MarkHidden("time")
}

func newStopCommand(cli *command.Cli) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			o.timeoutChanged = cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time")
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runStop(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	addStopFlags(cmd, &o)
	return cmd
}

func newRestartCommand(cli *command.Cli) *cobra.Command {
	var o stopOptions
	cmd := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			o.timeoutChanged = cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time")
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRestart(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	addStopFlags(cmd, &o)
	return cmd
}

func newKillCommand(cli *command.Cli) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runKill(cmd.Context(), api, cli.Out, sig, args)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(cli *command.Cli, aliases ...string) *cobra.Command {
	var o rmOptions
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases: aliases,
		Short:   "Remove one or more containers",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRm(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	f.BoolVarP(&o.links, "link", "l", false, "Remove the specified link")
	f.BoolVarP(&o.volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

func newPsCommand(cli *command.Cli, use string, aliases ...string) *cobra.Command {
	var o psOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   "List containers",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.filters = filters.Value()
			o.sizeChanged = cmd.Flags().Changed("size")
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPs(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.VarP(filters, "filter", "f", "Filter output based on conditions provided")
	f.StringVar(&o.format, "format", "", formatter.Help)
	f.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.BoolVarP(&o.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	return cmd
}

func newLogsCommand(cli *command.Cli) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runLogs(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.BoolVar(&o.details, "details", false, "Show extra details provided to logs")
	f.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	f.StringVar(&o.since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	f.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	f.StringVar(&o.until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	return cmd
}

func newExecCommand(cli *command.Cli) *cobra.Command {
	o := execOptions{env: opts.NewListOpt(opts.ValidateEnv), envFile: opts.NewListOpt(nil)}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  command.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container, o.cmd = args[0], args[1:]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runExec(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.VarP(o.env, "env", "e", "Set environment variables")
	f.Var(o.envFile, "env-file", "Read in a file of environment variables")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringVarP(&o.user, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]")`)
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

func newAttachCommand(cli *command.Cli) *cobra.Command {
	var o attachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runAttach(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	f := cmd.Flags()
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&o.noStdin, "no-stdin", false, "Do not attach STDIN")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	return cmd
}

func newInspectCommand(cli *command.Cli, use string, anyType bool) *cobra.Command {
	var o inspectOptions
	var typ string
	cmd := &cobra.Command{
		Use:   use,
		Short: "Display detailed information on one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.refs = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			if anyType {
				return runInspectAny(cmd.Context(), api, cli.Out, o, typ)
			}
			return runInspect(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	f.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	if anyType {
		cmd.Short = "Return low-level information on Berth objects"
		f.StringVar(&typ, "type", "", "Only inspect objects of the given type (container, image, volume)")
	}
	return cmd
}

func newTopCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top CONTAINER [ps OPTIONS]",
		Short: "Display the running processes of a container",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runTop(cmd.Context(), api, cli.Out, args[0], args[1:])
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newPauseCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "Pause all processes within one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPause(cmd.Context(), api, cli.Out, args)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
}

func newUnpauseCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "Unpause all processes within one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runUnpause(cmd.Context(), api, cli.Out, args)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
}

func newCpCommand(cli *command.Cli) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use: `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
	berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			o.source, o.destination = args[0], args[1]
			if !o.quiet {
				// Progress goes to stderr only on a terminal, as docker.
				if _, isTerm := cliStreams(cli).outFd(); !isTerm {
					if _, errTerm := termFd(cli.Err); !errTerm {
						o.quiet = true
					}
				}
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runCp(cmd.Context(), api, cliStreams(cli), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	f.BoolVarP(&o.copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

func newStatsCommand(cli *command.Cli) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runStats(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	f.StringVar(&o.format, "format", "", formatter.Help)
	f.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	return cmd
}

func newWaitCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runWait(cmd.Context(), api, cli.Out, args)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
}

func newRenameCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRename(cmd.Context(), api, cli.Err, args[0], args[1])
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
}

func newUpdateCommand(cli *command.Cli) *cobra.Command {
	var o updateOptions
	var cpus opts.NanoCPUs
	var memory, memoryReservation opts.MemBytes
	var memorySwap opts.MemSwapBytes
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			o.changed = cmd.Flags().Changed
			// Only update's own flags count, not -H or --log-level.
			inherited := cmd.InheritedFlags()
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if inherited.Lookup(f.Name) == nil {
					o.nFlag++
				}
			})
			o.cpus, o.memory, o.memoryReservation, o.memorySwap = cpus.Value(), memory.Value(), memoryReservation.Value(), memorySwap.Value()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runUpdate(cmd.Context(), api, cliStreams(cli), o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	f.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Var(&cpus, "cpus", "Number of CPUs")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Int64Var(&o.pids, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringVar(&o.restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

func newCommitCommand(cli *command.Cli) *cobra.Command {
	var o commitOptions
	changes := opts.NewListOpt(nil)
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.container = args[0]
			if len(args) > 1 {
				o.reference = args[1]
			}
			o.changes = changes.Values()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runCommit(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&o.author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	f.VarP(changes, "change", "c", "Apply Dockerfile instruction to the created image")
	f.StringVarP(&o.message, "message", "m", "", "Commit message")
	f.BoolVarP(&o.pause, "pause", "p", true, "Pause container during commit")
	return cmd
}

func newExportCommand(cli *command.Cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export [OPTIONS] CONTAINER",
		Short: "Export a container's filesystem as a tar archive",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runExport(cmd.Context(), api, cliStreams(cli), args[0], output)
		},
		ValidArgsFunction: completeContainers(cli, true),
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func newPortCommand(cli *command.Cli) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port := ""
			if len(args) > 1 {
				port = args[1]
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runPort(cmd.Context(), api, cli.Out, args[0], port)
		},
		ValidArgsFunction: completeContainers(cli, false),
	}
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var o pruneOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
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
	f.Var(filters, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	f.BoolVarP(&o.force, "force", "f", false, "Do not prompt for confirmation")
	return cmd
}

func termFd(w any) (uintptr, bool) {
	return streams{out: w.(interface{ Write([]byte) (int, error) })}.outFd()
}
