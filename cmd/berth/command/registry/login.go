package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// loginAPI is what login needs of the daemon.
type loginAPI interface {
	RegistryLogin(ctx context.Context, options client.RegistryLoginOptions) (client.RegistryLoginResult, error)
}

type loginOptions struct {
	server        string
	user          string
	password      string
	passwordStdin bool
	configPath    string
}

// NewLoginCommand returns `berth login`.
func NewLoginCommand(cli *command.Cli) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Long:  "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
		Args:  command.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				o.server = args[0]
			}
			if err := verifyLoginFlags(cmd, o); err != nil {
				return err
			}
			api, err := cli.Client()
			if err != nil {
				return err
			}
			o.configPath = ConfigPath()
			return runLogin(cmd.Context(), api, cli.In, cli.Out, cli.Err, o)
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "username", "u", "", "Username")
	f.StringVarP(&o.password, "password", "p", "", "Password or Personal Access Token (PAT)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

// verifyLoginFlags refuses the combinations docker refuses, in its words.
func verifyLoginFlags(cmd *cobra.Command, o loginOptions) error {
	f := cmd.Flags()
	if f.Changed("password-stdin") {
		if f.Changed("password") {
			return errors.New("conflicting options: cannot specify both --password and --password-stdin")
		}
		if !f.Changed("username") {
			return errors.New("the --password-stdin option requires --username to be set")
		}
	}
	if f.Changed("username") && o.user == "" {
		return errors.New("username is empty")
	}
	if f.Changed("password") && o.password == "" {
		return errors.New("password is empty")
	}
	return nil
}

// runLogin logs in as docker login does: with the credentials given (the
// password from stdin with --password-stdin), else with those stored for
// the server, else with those typed at the terminal's prompts. Accepted
// credentials are stored in config.json under the server's address.
func runLogin(ctx context.Context, api loginAPI, in io.Reader, out, errOut io.Writer, o loginOptions) error {
	if o.password != "" {
		fmt.Fprintln(errOut, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if o.passwordStdin {
		b, err := io.ReadAll(in)
		if err != nil {
			return err
		}
		o.password = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	server := o.server
	if server == "" || server == "docker.io" {
		server = IndexServer
	}
	cfg, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}

	if o.user == "" && o.password == "" {
		stored, ok, err := cfg.lookup(server)
		if err != nil {
			return err
		}
		if ok && stored.username != "" && (stored.password != "" || stored.identityTok != "") {
			fmt.Fprintf(errOut, "Authenticating with existing credentials... [Username: %s]\n", stored.username)
			res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{
				Username: stored.username, Password: stored.password, IdentityToken: stored.identityTok, ServerAddress: server,
			})
			if err == nil {
				fmt.Fprintln(out, res.Auth.Status)
				return nil
			}
			if cerrdefs.IsUnauthorized(err) {
				fmt.Fprintln(errOut, "Stored credentials invalid or expired")
			} else {
				fmt.Fprintln(errOut, "Login did not succeed, error:", err)
			}
			o.user = stored.username
		}
	}

	if o.user == "" || o.password == "" {
		if o.user, o.password, err = prompt(in, out, o.user, o.password); err != nil {
			return err
		}
	}
	res, err := api.RegistryLogin(ctx, client.RegistryLoginOptions{Username: o.user, Password: o.password, ServerAddress: server})
	if err != nil {
		return err
	}
	cfg.store(server, o.user, o.password, res.Auth.IdentityToken)
	if err := cfg.save(); err != nil {
		return fmt.Errorf("error saving credentials: %w", err)
	}
	fmt.Fprintf(errOut, "WARNING! Your credentials are stored unencrypted in '%s'.\n", o.configPath)
	fmt.Fprintln(out, res.Auth.Status)
	return nil
}

// prompt asks for what is missing of a user name and password on the
// terminal, the password without echo; without a terminal it is docker's
// error.
func prompt(in io.Reader, out io.Writer, user, password string) (string, string, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(f.Fd()) {
		return "", "", errors.New("Error: Cannot perform an interactive login from a non TTY device") //nolint:staticcheck // docker's words
	}
	r := bufio.NewReader(f)
	if user == "" {
		fmt.Fprint(out, "Username: ")
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return "", "", fmt.Errorf("reading the username: %w", err)
		}
		if user = strings.TrimSpace(line); user == "" {
			return "", "", errors.New("Error: Non-null Username Required") //nolint:staticcheck // docker's words
		}
	}
	if password == "" {
		state, err := term.SaveState(f.Fd())
		if err != nil {
			return "", "", err
		}
		if err := term.DisableEcho(f.Fd(), state); err != nil {
			return "", "", err
		}
		fmt.Fprint(out, "Password: ")
		line, rerr := r.ReadString('\n')
		_ = term.RestoreTerminal(f.Fd(), state)
		fmt.Fprintln(out)
		if rerr != nil && line == "" {
			return "", "", fmt.Errorf("reading the password: %w", rerr)
		}
		if password = strings.TrimRight(line, "\r\n"); password == "" {
			return "", "", errors.New("Error: Password Required") //nolint:staticcheck // docker's words
		}
	}
	return user, password, nil
}
