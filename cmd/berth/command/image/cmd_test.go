package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// berth runs args through a root command set up as cmd/berth's is (its
// persistent -H/--host and -l/--log-level included, so that flag clashes
// show) and returns the error and the streams.
func berth(t *testing.T, host, stdin string, args ...string) (error, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli := &command.Cli{In: strings.NewReader(stdin), Out: &out, Err: &errOut, Host: host}
	t.Cleanup(cli.Close)
	root := &cobra.Command{Use: "berth", SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&cli.Host, "host", "H", host, "")
	root.PersistentFlags().StringP("log-level", "l", "info", "")
	root.AddCommand(NewCommand(cli))
	root.AddCommand(NewShortcuts(cli)...)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	return err, out.String(), errOut.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	cli := &command.Cli{}
	var cmds []*cobra.Command
	cmds = append(cmds, NewCommand(cli).Commands()...)
	cmds = append(cmds, NewShortcuts(cli)...)
	for _, c := range cmds {
		args := []string{c.Name(), "--help"}
		if c.Parent() != nil {
			args = []string{"image", c.Name(), "--help"}
		}
		if err, out, _ := berth(t, "", "", args...); err != nil || !strings.HasPrefix(out, c.Short) && !strings.Contains(out, c.Short) {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

func TestCommandLines(t *testing.T) {
	at := stopClock(t)
	d, _ := newFakeDaemon(t)
	d.images = sampleImages(at)
	d.history = []image.HistoryResponseItem{{ID: idA, Created: at.Unix(), CreatedBy: "CMD", Size: 2048}}
	d.deletes["alpine"] = []image.DeleteResponse{{Untagged: "alpine:latest"}, {Deleted: idA}}
	d.pruned = image.PruneReport{ImagesDeleted: []image.DeleteResponse{{Deleted: idC}}, SpaceReclaimed: 1024}
	dockerConfig(t, "")

	run := func(stdin string, args ...string) string {
		t.Helper()
		err, out, _ := berth(t, d.host, stdin, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}

	if out := run("", "images", "-q", "--no-trunc", "-a", "-f", "dangling=false", "alpine"); !strings.HasPrefix(out, idA+"\n") ||
		d.query.Get("all") != "1" || d.query.Get("filters") != `{"dangling":{"false":true},"reference":{"alpine":true}}` {
		t.Errorf("images: %q %v", out, d.query)
	}
	if out := run("", "image", "list", "--digests", "--format", "{{.Digest}}"); !strings.HasPrefix(out, dg1+"\n") {
		t.Errorf("image list: %q", out)
	}
	if out := run("", "history", "--human=false", "--format", "{{.Size}}", "alpine"); out != "2048\n" {
		t.Errorf("history: %q", out)
	}
	if out := run("", "image", "history", "-q", "alpine"); out != "aded1e1a5b37\n" {
		t.Errorf("image history: %q", out)
	}
	if out := run("", "rmi", "-f", "--no-prune", "alpine"); out != "Untagged: alpine:latest\nDeleted: "+idA+"\n" ||
		d.query.Get("force") != "1" || d.query.Get("noprune") != "1" {
		t.Errorf("rmi: %q %v", out, d.query)
	}
	if out := run("", "image", "remove", "alpine"); d.method != "DELETE" || !strings.HasPrefix(out, "Untagged:") {
		t.Errorf("image remove: %q", out)
	}
	if out := run("y\n", "image", "prune", "-a", "--filter", "until=1h"); !strings.HasSuffix(out, "Deleted Images:\ndeleted: "+idC+"\n\nTotal reclaimed space: 1.024kB\n") ||
		d.query.Get("filters") != `{"dangling":{"false":true},"until":{"1h":true}}` {
		t.Errorf("prune: %q %v", out, d.query)
	}
	if run("", "tag", "alpine", "me/alpine:1"); d.query.Get("repo") != "docker.io/me/alpine" || d.query.Get("tag") != "1" {
		t.Errorf("tag: %v", d.query)
	}

	dir := t.TempDir()
	tarball := filepath.Join(dir, "in.tar")
	if err := os.WriteFile(tarball, []byte("TAR"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.stream = `{"stream":"Loaded image: alpine:latest\n"}` + "\n"
	if out := run("", "load", "-q", "-i", tarball); out != "Loaded image: alpine:latest\n" || d.query.Get("quiet") != "1" || string(d.body) != "TAR" {
		t.Errorf("load: %q %v", out, d.query)
	}
	if run("", "image", "save", "-o", filepath.Join(dir, "out.tar"), "alpine", "busybox"); d.path != "/images/get" {
		t.Errorf("save: %s", d.path)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.tar")); string(b) != "TAR:alpine,busybox" {
		t.Errorf("saved %q", b)
	}
	d.stream = `{"status":"sha256:abc"}` + "\n"
	if out := run("ROOTFS", "import", "-c", "ENV A=1,2", "--change", "WORKDIR /x", "-m", "msg", "--platform", "linux/amd64", "-", "me/img:v2"); out != "sha256:abc\n" ||
		strings.Join(d.query["changes"], "|") != "ENV A=1,2|WORKDIR /x" || d.query.Get("message") != "msg" || d.query.Get("repo") != "me/img:v2" || string(d.body) != "ROOTFS" {
		t.Errorf("import: %q %v", out, d.query)
	}
	d.stream = pullStream
	if out := run("", "pull", "-a", "-q", "--platform", "linux/arm64", "alpine"); out != "docker.io/library/alpine\n" || d.query.Get("platform") != "linux/arm64" {
		t.Errorf("pull: %q %v", out, d.query)
	}
	if out := run("", "image", "push", "-q", "me/app"); out != "docker.io/me/app:latest\n" || d.path != "/images/docker.io/me/app/push" {
		t.Errorf("push: %q %s", out, d.path)
	}
}

func TestCommandErrors(t *testing.T) {
	d, _ := newFakeDaemon(t)
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"history"}, "\"berth history\" requires exactly 1 argument.\nSee 'berth history --help'.\n\nUsage:  berth history [OPTIONS] IMAGE\n\nShow the history of an image", 125},
		{[]string{"image", "tag", "a"}, "\"berth image tag\" requires exactly 2 arguments.", 125},
		{[]string{"image", "rm"}, "\"berth image rm\" requires at least 1 argument.", 125},
		{[]string{"images", "a", "b"}, "\"berth images\" requires at most 1 argument.", 125},
		{[]string{"image", "prune", "x"}, "\"berth image prune\" accepts no arguments.", 125},
		{[]string{"image", "bogus"}, "berth: 'bogus' is not a berth image command.", 125},
		{[]string{"rmi", "nope", "busy"}, "Error response from daemon: No such image: nope\nError response from daemon: conflict: unable to remove repository reference \"busy\"", 1},
		{[]string{"image", "inspect", "nope"}, "Error response from daemon: No such image: nope", 1},
		{[]string{"pull", "-a", "alpine:3"}, "tag can't be used with --all-tags/-a", 1},
	} {
		err, _, _ := berth(t, d.host, "", tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || command.ExitCode(err) != tc.code {
			t.Errorf("%v: %v (exit %d)", tc.args, err, command.ExitCode(err))
		}
	}
}
