// Package command holds what every berth command shares: the streams, the
// lazily built API client, exit-status errors and argument validators.
package command

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/moby/moby/client"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/internal/version"
)

// DefaultHost is where berthd listens unless told otherwise.
const DefaultHost = "unix:///run/berth.sock"

// HostEnv names the environment variable that overrides DefaultHost.
// DOCKER_HOST is deliberately not read: berth must never manage a Docker
// daemon just because the shell was set up for the docker CLI.
const HostEnv = "BERTH_HOST"

// Cli carries the standard streams and the API client. The client is built
// on first use so that --help, -v and completion scripts never touch the
// daemon or fail on a bad host.
type Cli struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer

	// Host is the -H flag as given; empty means BERTH_HOST, then DefaultHost.
	Host string
	// Debug is set by --log-level=debug; `berth info` reports it.
	Debug bool

	api *client.Client
}

// DaemonHost is the address berth talks to.
func (c *Cli) DaemonHost() string {
	if c.Host != "" {
		return c.Host
	}
	if h := os.Getenv(HostEnv); h != "" {
		return h
	}
	return DefaultHost
}

// ValidateHost rejects addresses the client could not dial, so that a typo
// in -H is a usage error rather than a confusing connection failure.
func ValidateHost(host string) error {
	proto, addr, ok := strings.Cut(host, "://")
	if !ok || addr == "" || (proto != "unix" && proto != "tcp") {
		return fmt.Errorf("invalid host %q: want unix:///path/to/socket or tcp://host:port", host)
	}
	return nil
}

// Client returns the API client for DaemonHost, negotiating the API version
// with berthd on first request.
func (c *Cli) Client() (*client.Client, error) {
	if c.api != nil {
		return c.api, nil
	}
	host := c.DaemonHost()
	if err := ValidateHost(host); err != nil {
		return nil, err
	}
	api, err := client.New(
		client.WithHost(host),
		client.WithAPIVersionNegotiation(),
		client.WithUserAgent("berth/"+version.Version),
		client.WithHTTPRequestHook(func(r *http.Request) error {
			logrus.Debugf("%s %s", r.Method, r.URL.Path)
			return nil
		}),
	)
	if err != nil {
		return nil, err
	}
	c.api = api
	return api, nil
}

// Close releases the client's idle connections.
func (c *Cli) Close() {
	if c.api != nil {
		_ = c.api.Close()
	}
}

// StatusError ends berth with StatusCode after printing Status (if any) on
// stderr, the way the docker CLI's cli.StatusError does.
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string { return e.Status }

// UsageStatus is the exit status of a command-line mistake, as in docker.
const UsageStatus = 125

// UsageError reports a command-line mistake on cmd with a pointer to its help.
func UsageError(cmd *cobra.Command, msg string) error {
	return StatusError{
		Status:     fmt.Sprintf("%s\nSee '%s --help'.", msg, cmd.CommandPath()),
		StatusCode: UsageStatus,
	}
}

// ExitCode is the status berth exits with for err: a StatusError's own,
// otherwise 1.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) && se.StatusCode != 0 {
		return se.StatusCode
	}
	return 1
}

// NoArgs accepts no arguments. It and the other validators here word their
// errors like docker's and exit as usage errors.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

// RequiresMinArgs accepts at least n arguments.
func RequiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, plural("argument", n)))
	}
}

// RequiresMaxArgs accepts at most n arguments.
func RequiresMaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at most %d %s", n, plural("argument", n)))
	}
}

func argsError(cmd *cobra.Command, what string) error {
	return StatusError{
		Status: fmt.Sprintf("%q %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
			cmd.CommandPath(), what, cmd.CommandPath(), cmd.UseLine(), cmd.Short),
		StatusCode: UsageStatus,
	}
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Confirm asks question on out and reads the answer from in; only "y" or
// "Y" agrees, as in docker, and end of input declines.
func Confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprint(out, question+" [y/N] ")
	sc := bufio.NewScanner(in)
	if !sc.Scan() {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(sc.Text()), "y")
}

// UnknownSubcommand rejects a first argument that names no subcommand of a
// command group, in docker's words ("berth: 'x' is not a berth command.").
func UnknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s: '%s' is not a %s command.\nSee '%s --help'.",
			cmd.Root().Name(), args[0], cmd.CommandPath(), cmd.CommandPath()),
		StatusCode: UsageStatus,
	}
}
