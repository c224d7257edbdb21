package main

import (
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/container"
	"github.com/berth-engine/berth/cmd/berth/command/image"
	"github.com/berth-engine/berth/cmd/berth/command/network"
	"github.com/berth-engine/berth/cmd/berth/command/registry"
	"github.com/berth-engine/berth/cmd/berth/command/system"
	"github.com/berth-engine/berth/cmd/berth/command/volume"
	"github.com/berth-engine/berth/internal/version"
)

const rootLong = `berth is the command-line client for the Berth container engine (berthd).

It connects to the daemon named by -H/--host, else by the BERTH_HOST
environment variable, else ` + command.DefaultHost + `.
DOCKER_HOST is deliberately ignored, so that berth never manages a Docker
daemon by accident; the docker CLI, given DOCKER_HOST, can talk to berthd.`

// helpTemplate lays help out as docker's does: usage line first, then the
// description, subcommands, and only the command's own options (the global
// ones are listed once, in `berth --help`).
const helpTemplate = `Usage:  {{if .HasAvailableSubCommands}}{{.CommandPath}}{{if not .HasParent}} [OPTIONS]{{end}} COMMAND{{else}}{{.UseLine}}{{end}}

{{with (or .Long .Short)}}{{. | trimTrailingWhitespaces}}{{end}}
{{- if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Commands:
{{- range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}
{{- end}}{{end}}
{{- end}}
{{- if .HasAvailableLocalFlags}}

Options:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- end}}
`

func newRootCommand(cli *command.Cli) *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:           "berth",
		Short:         "A client for the Berth container engine",
		Long:          rootLong,
		Version:       fmt.Sprintf("%s, build %s", version.Version, version.GitCommit),
		Args:          command.UnknownSubcommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			lvl, err := logrus.ParseLevel(logLevel)
			if err != nil {
				return command.UsageError(cmd.Root(), "Unable to parse logging level: "+logLevel)
			}
			logrus.SetOutput(cli.Err)
			logrus.SetLevel(lvl)
			cli.Debug = lvl >= logrus.DebugLevel
			if err := command.ValidateHost(cli.DaemonHost()); err != nil {
				return command.UsageError(cmd.Root(), err.Error())
			}
			return nil
		},
	}
	cmd.SetVersionTemplate("Berth version {{.Version}}\n")
	cmd.SetHelpTemplate(helpTemplate)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return command.UsageError(c, err.Error())
	})

	pf := cmd.PersistentFlags()
	pf.StringVarP(&cli.Host, "host", "H", "",
		`Daemon socket to connect to (default $BERTH_HOST, else "`+command.DefaultHost+`"; DOCKER_HOST is ignored)`)
	// -l is --log-level only before the command name, as in docker
	// (globalShorthands rewrites it): after it, -l is the command's own
	// (run --label, ps --latest, rm --link).
	pf.StringVar(&logLevel, "log-level", "info", `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	cmd.Flags().BoolP("version", "v", false, "Print version information and quit")

	cmd.AddCommand(
		system.NewInfoCommand(cli),
		system.NewVersionCommand(cli),
		volume.NewCommand(cli),
		network.NewCommand(cli),
		image.NewCommand(cli),
		container.NewCommand(cli),
		registry.NewLoginCommand(cli),
		registry.NewLogoutCommand(cli),
	)
	cmd.AddCommand(image.NewShortcuts(cli)...)
	cmd.AddCommand(container.NewShortcuts(cli)...)
	// Usage lines spell out [OPTIONS] themselves, as docker's do.
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
	return cmd
}

// globalShorthands rewrites the global -l (log level) given before the
// command name into --log-level, so that commands are free to use -l as
// docker's do.
func globalShorthands(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case a == "-l":
			out = append(out, "--log-level")
			continue
		case strings.HasPrefix(a, "-l="):
			out = append(out, "--log-level="+a[3:])
			continue
		case strings.HasPrefix(a, "-l") && !strings.HasPrefix(a, "--"):
			out = append(out, "--log-level="+a[2:])
			continue
		case a == "-H" || a == "--host" || a == "--log-level":
			out = append(out, a)
			if i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		case strings.HasPrefix(a, "-"):
			out = append(out, a)
			continue
		}
		return append(out, args[i:]...)
	}
	return out
}
