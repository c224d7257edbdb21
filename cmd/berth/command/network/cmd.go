package network

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/cmd/berth/command/opts"
)

// NewCommand returns `berth network` and its subcommands.
func NewCommand(cli *command.Cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Args:  command.UnknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newConnectCommand(cli),
		newCreateCommand(cli),
		newDisconnectCommand(cli),
		newInspectCommand(cli),
		newListCommand(cli),
		newPruneCommand(cli),
		newRemoveCommand(cli),
	)
	return cmd
}

func newCreateCommand(cli *command.Cli) *cobra.Command {
	var o createOptions
	driverOpts, labels := opts.NewMapOpt(), opts.NewLabelOpt()
	auxAddresses, ipamOpts := opts.NewMapOpt(), opts.NewMapOpt()
	var ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			o.driverOpts, o.labels = driverOpts.Value(), labels.Value()
			o.ipam.auxAddresses, o.ipam.driverOpts = auxAddresses.Value(), ipamOpts.Value()
			// EnableIPv6 is sent only when asked about, so that the
			// daemon's default applies otherwise.
			if cmd.Flags().Changed("ipv6") {
				o.ipv6 = &ipv6
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runCreate(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	f.Var(auxAddresses, "aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	f.StringVar(&o.configFrom, "config-from", "", "The network from which to copy the configuration")
	f.BoolVar(&o.configOnly, "config-only", false, "Create a configuration only network")
	f.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringSliceVar(&o.ipam.gateways, "gateway", []string{}, "IPv4 or IPv6 Gateway for the master subnet")
	f.BoolVar(&o.ingress, "ingress", false, "Create swarm routing-mesh network")
	f.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	f.StringSliceVar(&o.ipam.ipRanges, "ip-range", []string{}, "Allocate container ip from a sub-range")
	f.StringVar(&o.ipam.driver, "ipam-driver", "default", "IP Address Management Driver")
	f.Var(ipamOpts, "ipam-opt", "Set IPAM driver specific options")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	f.Var(labels, "label", "Set metadata on a network")
	f.VarP(driverOpts, "opt", "o", "Set driver specific options")
	f.StringVar(&o.scope, "scope", "", "Control the network's scope")
	f.StringSliceVar(&o.ipam.subnets, "subnet", []string{}, "Subnet in CIDR format that represents a network segment")
	return cmd
}

func newListCommand(cli *command.Cli) *cobra.Command {
	var o listOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
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
	f.VarP(filters, "filter", "f", `Provide filter values (e.g. "driver=bridge")`)
	f.StringVar(&o.format, "format", "", formatter.Help)
	f.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate the output")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display network IDs")
	_ = cmd.RegisterFlagCompletionFunc("filter", completeFilterKeys)
	return cmd
}

func newInspectCommand(cli *command.Cli) *cobra.Command {
	var o inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.names = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runInspect(cmd.Context(), api, cli.Out, o)
		},
		ValidArgsFunction: completeNetworkNames(cli, -1),
	}
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "", `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`)
	f.BoolVarP(&o.verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newRemoveCommand(cli *command.Cli) *cobra.Command {
	var o removeOptions
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    command.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.names = args
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runRemove(cmd.Context(), api, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: completeNetworkNames(cli, -1),
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newConnectCommand(cli *command.Cli) *cobra.Command {
	var o connectOptions
	links := opts.NewListOpt(validateLink)
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.network, o.container = args[0], args[1]
			o.links = links.Values()
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runConnect(cmd.Context(), api, o)
		},
		ValidArgsFunction: completeNetworkNames(cli, 0),
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.aliases, "alias", []string{}, "Add network-scoped alias for the container")
	f.StringSliceVar(&o.driverOpts, "driver-opt", []string{}, "driver options for the network")
	f.Var((*addrValue)(&o.ipv4), "ip", `IPv4 address (e.g., "172.30.100.104")`)
	f.Var((*addrValue)(&o.ipv6), "ip6", `IPv6 address (e.g., "2001:db8::33")`)
	f.Var(links, "link", "Add link to another container")
	f.Var((*addrsValue)(&o.linkLocalIPs), "link-local-ip", "Add a link-local address for the container")
	return cmd
}

func newDisconnectCommand(cli *command.Cli) *cobra.Command {
	var o disconnectOptions
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.network, o.container = args[0], args[1]
			api, err := cli.Client()
			if err != nil {
				return err
			}
			return runDisconnect(cmd.Context(), api, o)
		},
		ValidArgsFunction: completeNetworkNames(cli, 0),
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

func newPruneCommand(cli *command.Cli) *cobra.Command {
	var o pruneOptions
	filters := opts.NewFilterOpt()
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
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
	_ = cmd.RegisterFlagCompletionFunc("filter", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{"label=", "label!=", "until="}, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// exactArgs accepts exactly n arguments, worded like the validators in
// package command.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		word := "arguments"
		if n == 1 {
			word = "argument"
		}
		return command.StatusError{
			Status: fmt.Sprintf("%q requires exactly %d %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
				cmd.CommandPath(), n, word, cmd.CommandPath(), cmd.UseLine(), cmd.Short),
			StatusCode: command.UsageStatus,
		}
	}
}

// addrValue is an IP address flag. Its type reads "string" in --help, as
// docker's does.
type addrValue netip.Addr

func (a *addrValue) Set(s string) error {
	ip, err := parseAddr(s)
	if err != nil {
		return err
	}
	*a = addrValue(ip)
	return nil
}

func (a *addrValue) Type() string { return "string" }

func (a *addrValue) String() string {
	if ip := netip.Addr(*a); ip.IsValid() {
		return ip.String()
	}
	return ""
}

// addrsValue is a repeatable, comma-separated list of IP addresses.
type addrsValue []netip.Addr

func (a *addrsValue) Set(s string) error {
	for _, part := range splitComma(s) {
		ip, err := parseAddr(part)
		if err != nil {
			return err
		}
		*a = append(*a, ip)
	}
	return nil
}

func (a *addrsValue) Type() string { return "strings" }

func (a *addrsValue) String() string {
	if len(*a) == 0 {
		return ""
	}
	s := make([]string, len(*a))
	for i, ip := range *a {
		s[i] = ip.String()
	}
	return fmt.Sprint(s)
}

// completeNetworkNames offers the daemon's network names not already on
// the command line, for the argument at position pos (-1: every argument).
// A daemon that cannot be reached just offers nothing.
func completeNetworkNames(cli *command.Cli, pos int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if pos >= 0 && len(args) != pos {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		api, err := cli.Client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		res, err := api.NetworkList(cmd.Context(), client.NetworkListOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, n := range res.Items {
			if !slices.Contains(args, n.Name) {
				names = append(names, n.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFilterKeys offers the filter keys berthd understands for
// networks.
func completeFilterKeys(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"dangling=", "driver=", "id=", "label=", "name=", "scope=", "type="},
		cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
