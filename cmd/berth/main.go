// Command berth is the command-line client for berthd. It speaks the Docker
// Engine API through the official Go client, and its commands, flags and
// output follow the docker CLI's so that habits and scripts carry over.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/command"
)

func main() {
	cli := &command.Cli{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	os.Exit(run(context.Background(), cli, os.Args[1:]))
}

// run executes berth with args, prints any error on cli.Err the way the
// docker CLI does (once, no "Error:" of berth's own), and returns the exit
// status.
func run(ctx context.Context, cli *command.Cli, args []string) int {
	defer cli.Close()
	root := newRootCommand(cli)
	root.SetArgs(globalShorthands(args))
	root.SetIn(cli.In)
	root.SetOut(cli.Out)
	root.SetErr(cli.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	err = describe(err, cli.DaemonHost())
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(cli.Err, msg)
	}
	return command.ExitCode(err)
}

// describe rewrites the moby client's connection errors, which speak of
// "the Docker daemon", to name berthd and the address berth dialed.
func describe(err error, host string) error {
	if !client.IsErrConnectionFailed(err) {
		return err
	}
	if strings.HasPrefix(err.Error(), "permission denied") {
		return fmt.Errorf("permission denied while trying to connect to the Berth daemon at %s", host)
	}
	return errors.New("Cannot connect to the Berth daemon at " + host + ". Is berthd running?")
}
