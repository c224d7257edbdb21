package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/internal/version"
)

// berth runs the CLI in-process and returns its exit status and streams.
func berth(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cli := &command.Cli{In: strings.NewReader(stdin), Out: &out, Err: &errOut}
	code := run(context.Background(), cli, args)
	return code, out.String(), errOut.String()
}

// fakeDaemon knows no volumes: every inspect is a 404 with berthd's body.
func fakeDaemon(t *testing.T) string {
	mux := http.NewServeMux()
	ping := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		_, _ = w.Write([]byte("OK"))
	}
	mux.HandleFunc("HEAD /_ping", ping)
	mux.HandleFunc("GET /_ping", ping)
	mux.HandleFunc("GET /{v}/volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"get ` + r.PathValue("name") + `: no such volume"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"x"}, "berth: 'x' is not a berth command.\nSee 'berth --help'.\n"},
		{[]string{"volume", "x"}, "berth: 'x' is not a berth volume command.\nSee 'berth volume --help'.\n"},
		{[]string{"volume", "ls", "--bogus"}, "unknown flag: --bogus\nSee 'berth volume ls --help'.\n"},
		{[]string{"volume", "ls", "-f", "dangling"},
			"invalid argument \"dangling\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\nSee 'berth volume ls --help'.\n"},
		{[]string{"volume", "inspect"},
			"\"berth volume inspect\" requires at least 1 argument.\nSee 'berth volume inspect --help'.\n\nUsage:  berth volume inspect [OPTIONS] VOLUME [VOLUME...]\n\nDisplay detailed information on one or more volumes\n"},
		{[]string{"-H", "/run/berth.sock", "info"},
			"invalid host \"/run/berth.sock\": want unix:///path/to/socket or tcp://host:port\nSee 'berth --help'.\n"},
		{[]string{"--log-level", "loud", "info"}, "Unable to parse logging level: loud\nSee 'berth --help'.\n"},
	} {
		code, out, stderr := berth(t, "", tc.args...)
		if code != 125 || out != "" || stderr != tc.stderr {
			t.Errorf("berth %v: exit %d, stdout %q, stderr\n%q\nwant\n%q", tc.args, code, out, stderr, tc.stderr)
		}
	}
}

func TestConnectionFailure(t *testing.T) {
	// DOCKER_HOST points at a live daemon and must be ignored.
	t.Setenv("DOCKER_HOST", fakeDaemon(t))
	host := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Setenv(command.HostEnv, host)
	code, _, stderr := berth(t, "", "volume", "ls")
	want := "Cannot connect to the Berth daemon at " + host + ". Is berthd running?\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q, want %q", code, stderr, want)
	}
}

func TestDaemonErrorPrintedOnce(t *testing.T) {
	host := fakeDaemon(t)
	code, out, stderr := berth(t, "", "-H", host, "volume", "inspect", "nope")
	if code != 1 || out != "[]\n" || stderr != "Error response from daemon: get nope: no such volume\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestVersionFlagAndHelp(t *testing.T) {
	code, out, _ := berth(t, "", "-v")
	if code != 0 || out != "Berth version "+version.Version+", build "+version.GitCommit+"\n" {
		t.Errorf("-v: exit %d, %q", code, out)
	}
	code, out, _ = berth(t, "", "--help")
	if code != 0 || !strings.Contains(out, "BERTH_HOST") || !strings.Contains(out, "DOCKER_HOST is deliberately ignored") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	code, out, _ = berth(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion: exit %d", code)
	}
}

// -l is --log-level only before the command name; after it, it is the
// command's own (run --label, ps --latest), as in docker.
func TestGlobalShorthands(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-l", "debug", "ps", "-l"}, []string{"--log-level", "debug", "ps", "-l"}},
		{[]string{"-H", "unix:///x.sock", "-ldebug", "run", "-l", "a=b", "busybox"},
			[]string{"-H", "unix:///x.sock", "--log-level=debug", "run", "-l", "a=b", "busybox"}},
		{[]string{"-l=warn", "ps"}, []string{"--log-level=warn", "ps"}},
		{[]string{"--log-level", "debug", "ps", "-l"}, []string{"--log-level", "debug", "ps", "-l"}},
		{[]string{"run", "-l", "x=y", "busybox", "ls", "-l"}, []string{"run", "-l", "x=y", "busybox", "ls", "-l"}},
	} {
		if got := globalShorthands(tc.in); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("globalShorthands(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// --log-level takes effect; a bad -l value is the same usage error.
	host := fakeDaemon(t)
	if code, _, stderr := berth(t, "", "-H", host, "--log-level", "debug", "volume", "inspect", "nope"); code != 1 || !strings.Contains(stderr, "level=debug") {
		t.Errorf("--log-level debug: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := berth(t, "", "-l", "loud", "info"); code != 125 || stderr != "Unable to parse logging level: loud\nSee 'berth --help'.\n" {
		t.Errorf("-l loud: exit %d, stderr %q", code, stderr)
	}
}
