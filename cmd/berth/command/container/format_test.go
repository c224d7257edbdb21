package container

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/command"
)

type fakeList struct {
	client.ContainerAPIClient
	items []container.Summary
	got   client.ContainerListOptions
}

func (f *fakeList) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	f.got = o
	return client.ContainerListResult{Items: f.items}, nil
}

func TestPsTable(t *testing.T) {
	now := time.Now()
	api := &fakeList{items: []container.Summary{
		{
			ID: "0123456789abcdef0123", Names: []string{"/web", "/other/web"}, Image: "docker.io/library/busybox:latest",
			Command: "sh -c 'while true; do sleep 1; done'", Created: now.Add(-90 * time.Second).Unix(),
			Status: "Up 3 seconds", State: "running",
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"}, {PrivatePort: 444, Type: "tcp"},
			},
		},
		{ID: "fedcba9876543210", Names: []string{"/done"}, Image: "sha256:aaaabbbbccccdddd", ImageID: "sha256:aaaabbbbccccdddd",
			Command: "true", Created: now.Add(-2 * time.Hour).Unix(), Status: "Exited (1) 2 seconds ago", State: "exited"},
	}}
	var out bytes.Buffer
	if err := runPs(context.Background(), api, &out, psOptions{last: -1}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE            COMMAND                  CREATED              STATUS                     PORTS                               NAMES\n" +
		"0123456789ab   busybox:latest   \"sh -c 'while true; …\"   About a minute ago   Up 3 seconds               443-444/tcp, 0.0.0.0:8080->80/tcp   web\n" +
		"fedcba987654   aaaabbbbcccc     \"true\"                   2 hours ago          Exited (1) 2 seconds ago                                       done\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	if err := runPs(context.Background(), api, &out, psOptions{last: -1, quiet: true, all: true}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "0123456789ab\nfedcba987654\n" || !api.got.All {
		t.Errorf("-q: %q (all=%v)", out.String(), api.got.All)
	}

	out.Reset()
	if err := runPs(context.Background(), api, &out, psOptions{last: -1, noTrunc: true, format: "{{.ID}} {{.Names}} {{.Command}}"}); err != nil {
		t.Fatal(err)
	}
	want = "0123456789abcdef0123 web,other/web \"sh -c 'while true; do sleep 1; done'\"\nfedcba9876543210 done \"true\"\n"
	if out.String() != want {
		t.Errorf("--no-trunc: %q", out.String())
	}

	out.Reset()
	if err := runPs(context.Background(), api, &out, psOptions{last: -1, latest: true, format: "{{.Names}}\t{{.Size}}"}); err != nil {
		t.Fatal(err)
	}
	if api.got.Limit != 1 || !api.got.Size {
		t.Errorf("-l with .Size: %+v", api.got)
	}

	out.Reset()
	if err := runPs(context.Background(), api, &out, psOptions{last: -1, format: "json"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), `{"Command":"\"sh -c 'while true; …\"","CreatedAt":`) ||
		!strings.Contains(out.String(), `"Networks":"","Platform":null,"Ports":`) {
		t.Errorf("json: %s", out.String())
	}

	// A label's column is titled by its last dotted part, as docker's.
	out.Reset()
	if err := runPs(context.Background(), api, &out, psOptions{last: -1, format: "table {{.Names}}\t{{.Label \"com.example.my_label-x\"}}"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "NAMES     my label x\n") {
		t.Errorf("label header: %q", out.String())
	}
}

func TestDisplayablePorts(t *testing.T) {
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		ports []container.PortSummary
		want  string
	}{
		{nil, ""},
		{[]container.PortSummary{{PrivatePort: 9988, Type: "tcp"}}, "9988/tcp"},
		{[]container.PortSummary{{IP: ip("0.0.0.0"), PrivatePort: 80, PublicPort: 80, Type: "tcp"}, {IP: ip("0.0.0.0"), PrivatePort: 81, PublicPort: 81, Type: "tcp"}}, "0.0.0.0:80-81->80-81/tcp"},
		{[]container.PortSummary{{IP: ip("::"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, "[::]:8080->80/tcp"},
		{[]container.PortSummary{{PrivatePort: 53, Type: "udp"}, {PrivatePort: 53, Type: "tcp"}}, "53/tcp, 53/udp"},
	} {
		if got := displayablePorts(tc.ports); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.ports, got, tc.want)
		}
	}
}

func TestEllipsis(t *testing.T) {
	for in, want := range map[string]string{
		"short":                      "short",
		"exactly-twenty-chars":       "exactly-twenty-chars",
		"twenty-one-characters":      "twenty-one-characte…",
		"/bin/sh -c 'echo hello' ab": "/bin/sh -c 'echo he…",
	} {
		if got := ellipsis(in, 20); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestStatsCalculations(t *testing.T) {
	var v container.StatsResponse
	v.ID, v.Name = "0123456789abcdef", "/web"
	v.PreCPUStats.CPUUsage.TotalUsage = 1_000_000
	v.PreCPUStats.SystemUsage = 100_000_000
	v.CPUStats.CPUUsage.TotalUsage = 3_000_000
	v.CPUStats.SystemUsage = 200_000_000
	v.CPUStats.OnlineCPUs = 4
	v.MemoryStats.Usage = 100 << 20
	v.MemoryStats.Limit = 1 << 30
	v.MemoryStats.Stats = map[string]uint64{"inactive_file": 20 << 20}
	v.Networks = map[string]container.NetworkStats{"eth0": {RxBytes: 1500, TxBytes: 500}, "eth1": {RxBytes: 500}}
	v.BlkioStats.IoServiceBytesRecursive = []container.BlkioStatEntry{{Op: "Read", Value: 4096}, {Op: "write", Value: 8192}, {Op: "Total", Value: 1}}
	v.PidsStats.Current = 7
	e := toStatsEntry("web", v)
	if e.CPUPercentage != 8 { // (2e6/1e8)*4*100
		t.Errorf("cpu %v", e.CPUPercentage)
	}
	if e.Memory != 80<<20 {
		t.Errorf("memory %v", e.Memory)
	}
	// cgroup v1 reports total_inactive_file, which wins.
	v.MemoryStats.Stats["total_inactive_file"] = 50 << 20
	if got := memUsageNoCache(v.MemoryStats); got != 50<<20 {
		t.Errorf("v1 memory %v", got)
	}

	var out bytes.Buffer
	if err := writeStats(&out, "", false, []statsEntry{e, {ID: "dead", Name: "", IsInvalid: true}}); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O        PIDS\n" +
		"0123456789ab   web       8.00%     80MiB / 1GiB        7.81%     2kB / 500B   4.1kB / 8.19kB   7\n" +
		"dead           --        --        -- / --             --        --           --               --\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	if err := writeStats(&out, "{{.Container}}: {{.CPUPerc}} {{.MemPerc}}", true, []statsEntry{e}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "web: 8.00% 7.81%\n" {
		t.Errorf("template: %q", out.String())
	}
}

func TestSplitCpArg(t *testing.T) {
	for _, tc := range []struct{ arg, ctr, path string }{
		{"ctr:/etc/hosts", "ctr", "/etc/hosts"},
		{"ctr:relative", "ctr", "relative"},
		{"/abs/with:colon", "", "/abs/with:colon"},
		{"./local:colon", "", "./local:colon"},
		{"local", "", "local"},
		{"-", "", "-"},
		{"ctr:", "ctr", ""},
	} {
		ctr, path := splitCpArg(tc.arg)
		if ctr != tc.ctr || path != tc.path {
			t.Errorf("%q: got %q %q, want %q %q", tc.arg, ctr, path, tc.ctr, tc.path)
		}
	}
}

// TestCpDestinationRules checks docker cp's rules for where a copy lands
// (they are go-archive's, which berth's cp drives with the container's
// stat): a trailing slash asserts a directory, "/." copies contents.
func TestCpDestinationRules(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "sub", "g"), []byte("y"), 0o644))

	copyTo := func(srcPath, dst string) error {
		info, err := archive.CopyInfoSourcePath(srcPath, false)
		if err != nil {
			return err
		}
		rc, err := archive.TarResource(info)
		if err != nil {
			return err
		}
		defer rc.Close()
		return archive.CopyTo(rc, info, dst)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	// A file to a missing path ending in "/" fails: the directory must exist.
	if err := copyTo(filepath.Join(src, "f"), filepath.Join(dir, "nodir")+"/"); err == nil {
		t.Error("file to missing dir/: no error")
	}
	// A file to a missing path is created with that name.
	must(t, copyTo(filepath.Join(src, "f"), filepath.Join(dir, "newname")))
	if !exists(filepath.Join(dir, "newname")) {
		t.Error("file not renamed")
	}
	// A directory to a missing path becomes that path.
	must(t, copyTo(src, filepath.Join(dir, "copy")))
	if !exists(filepath.Join(dir, "copy", "sub", "g")) {
		t.Error("dir to new path")
	}
	// A directory to an existing directory lands inside it.
	must(t, os.Mkdir(filepath.Join(dir, "existing"), 0o755))
	must(t, copyTo(src, filepath.Join(dir, "existing")))
	if !exists(filepath.Join(dir, "existing", "src", "f")) {
		t.Error("dir into existing dir")
	}
	// "src/." copies the contents only.
	must(t, os.Mkdir(filepath.Join(dir, "contents"), 0o755))
	must(t, copyTo(src+"/.", filepath.Join(dir, "contents")))
	if !exists(filepath.Join(dir, "contents", "f")) || exists(filepath.Join(dir, "contents", "src")) {
		t.Error("dir/. contents")
	}
	// A directory onto an existing file fails.
	if err := copyTo(src, filepath.Join(dir, "newname")); err == nil {
		t.Error("dir onto file: no error")
	}
	// The destination's parent must exist.
	if err := validateOutputPath(filepath.Join(dir, "no", "such", "f")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing parent: %v", err)
	}
	if got := resolveTrailing(t, "rel/"); !strings.HasSuffix(got, "/rel/") {
		t.Errorf("trailing slash lost: %q", got)
	}
	if got := resolveTrailing(t, "rel/."); !strings.HasSuffix(got, "/rel/.") {
		t.Errorf("trailing /. lost: %q", got)
	}
}

func resolveTrailing(t *testing.T, p string) string {
	t.Helper()
	got, err := resolveLocalPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCopySummary(t *testing.T) {
	if got := copySummary(2048, "/tmp/x"); got != "Successfully copied 2.05kB to /tmp/x\n" {
		t.Errorf("got %q", got)
	}
	if got := copySummary(3072, "c:/x"); got != "Successfully copied 3.07kB to c:/x\n" {
		t.Errorf("got %q", got)
	}
}

func TestToStatusError(t *testing.T) {
	for msg, code := range map[string]int{
		`Error response from daemon: failed to create task: exec: "nope": executable file not found in $PATH`: 127,
		"Error response from daemon: exec /etc: permission denied":                                            126,
		"Error response from daemon: No such image: foo:latest":                                               125,
	} {
		err := toStatusError(errString(msg), "run")
		if got := exitCodeOf(err); got != code {
			t.Errorf("%q: %d, want %d", msg, got, code)
		}
		if !strings.HasPrefix(err.Error(), "berth: "+msg+"\n\nRun 'berth run --help' for more information") {
			t.Errorf("wording: %q", err.Error())
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func exitCodeOf(err error) int { return command.ExitCode(err) }
