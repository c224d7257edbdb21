package container

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// parseArgs parses `berth create ARGS` into the create request.
func parseArgs(t *testing.T, args []string) (*createConfig, error) {
	t.Helper()
	f := pflag.NewFlagSet("create", pflag.ContinueOnError)
	f.SetInterspersed(false)
	var o createOptions
	addCreateFlags(f, &o)
	copts := addContainerFlags(f)
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	rest := f.Args()
	copts.image = rest[0]
	if len(rest) > 1 {
		copts.args = rest[1:]
	}
	return parse(copts, f.Changed)
}

// normalize round-trips a request through the API types' JSON, so that
// what docker sent and what berth would send compare field by field.
func normalize(t *testing.T, req container.CreateRequest) map[string]any {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParseMatchesDocker compares the request built from each command
// line with the body docker CLI 28.2 sent for it to a capturing fake
// daemon (testdata/docker28-create.jsonl; the cases were run from this
// directory with B=2 in the environment).
func TestParseMatchesDocker(t *testing.T) {
	t.Setenv("B", "2")
	f, err := os.Open("testdata/docker28-create.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Args []string
			Body json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		t.Run(strings.Join(c.Args, " "), func(t *testing.T) {
			var docker container.CreateRequest
			if err := json.Unmarshal(c.Body, &docker); err != nil {
				t.Fatal(err)
			}
			cfg, err := parseArgs(t, c.Args)
			if err != nil {
				t.Fatal(err)
			}
			got := normalize(t, container.CreateRequest{Config: cfg.Config, HostConfig: cfg.HostConfig, NetworkingConfig: cfg.NetworkingConfig})
			want := normalize(t, docker)
			// docker ranges over a map to build Binds: its order is random.
			slices.Sort(cfg.HostConfig.Binds)
			got = normalize(t, container.CreateRequest{Config: cfg.Config, HostConfig: cfg.HostConfig, NetworkingConfig: cfg.NetworkingConfig})
			if docker.HostConfig != nil {
				slices.Sort(docker.HostConfig.Binds)
				want = normalize(t, docker)
			}
			for k := range want {
				if !reflect.DeepEqual(got[k], want[k]) {
					g, _ := json.Marshal(got[k])
					w, _ := json.Marshal(want[k])
					t.Errorf("%s:\n got %s\nwant %s", k, g, w)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s sent but docker does not", k)
				}
			}
		})
	}
}

func TestParseVolumes(t *testing.T) {
	wd, _ := os.Getwd()
	for _, tc := range []struct {
		spec    string
		bind    string
		anon    bool
		wantErr string
	}{
		{spec: "/data", anon: true},
		{spec: "/h:/c", bind: "/h:/c"},
		{spec: "/h:/c:ro", bind: "/h:/c:ro"},
		{spec: "/h:/c:ro,z", bind: "/h:/c:ro,z"},
		{spec: "vol:/c:nocopy", bind: "vol:/c:nocopy"},
		{spec: "vol:/c", bind: "vol:/c"},
		{spec: "./rel:/c", bind: filepath.Join(wd, "rel") + ":/c"},
		{spec: "~/x:/c", bind: "~/x:/c"},
		{spec: "a::b", wantErr: "invalid spec: a::b: empty section between colons"},
		{spec: "/a:/b:ro:x", wantErr: "invalid spec: /a:/b:ro:x: too many colons"},
	} {
		binds, vols, err := parseVolumes([]string{tc.spec})
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if tc.anon {
			if _, ok := vols[tc.spec]; !ok || len(binds) != 0 {
				t.Errorf("%s: binds %v volumes %v, want an anonymous volume", tc.spec, binds, vols)
			}
			continue
		}
		if len(binds) != 1 || binds[0] != tc.bind || len(vols) != 0 {
			t.Errorf("%s: binds %v volumes %v, want bind %q", tc.spec, binds, vols, tc.bind)
		}
	}
}

func TestParsePorts(t *testing.T) {
	p := network.MustParsePort
	for _, tc := range []struct {
		spec    string
		want    network.PortMap
		wantErr string
	}{
		{spec: "80", want: network.PortMap{p("80/tcp"): {{}}}},
		{spec: "8080:80", want: network.PortMap{p("80/tcp"): {{HostPort: "8080"}}}},
		{spec: "127.0.0.1:53:53/udp", want: network.PortMap{p("53/udp"): {{HostIP: mustAddr("127.0.0.1"), HostPort: "53"}}}},
		{spec: "127.0.0.1::80", want: network.PortMap{p("80/tcp"): {{HostIP: mustAddr("127.0.0.1")}}}},
		{spec: "[::1]:8443:443", want: network.PortMap{p("443/tcp"): {{HostIP: mustAddr("::1"), HostPort: "8443"}}}},
		{spec: "9000-9001:90-91", want: network.PortMap{p("90/tcp"): {{HostPort: "9000"}}, p("91/tcp"): {{HostPort: "9001"}}}},
		{spec: "8000-8010:80", want: network.PortMap{p("80/tcp"): {{HostPort: "8000-8010"}}}},
		{spec: "published=8081,target=81", want: network.PortMap{p("81/tcp"): {{HostPort: "8081"}}}},
		{spec: "1-2:3-5", wantErr: "invalid ranges specified for container and host Ports: 3-5 and 1-2"},
		{spec: "80/xyz", wantErr: "invalid proto: xyz"},
		{spec: "x:80", wantErr: "invalid hostPort: x"},
	} {
		exposed, got, err := parsePorts([]string{tc.spec})
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: error %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.spec, got, tc.want)
		}
		for port := range tc.want {
			if _, ok := exposed[port]; !ok {
				t.Errorf("%s: %s not exposed", tc.spec, port)
			}
		}
	}
}

func TestParseMountErrors(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{"--mount type=bind,src=/a,dst=/b,volume-nocopy busybox", "cannot mix 'volume-*' options with mount type 'bind'"},
		{"--mount type=volume,foo=bar busybox", "unknown option 'foo' in 'foo=bar'"},
		{"--mount src busybox", "invalid field 'src' must be a key=value pair"},
		{"--restart always --rm busybox", "conflicting options: cannot specify both --restart and --rm"},
		{"--restart :3 busybox", "invalid restart policy format: no policy provided before colon"},
		{"--restart on-failure:x busybox", "invalid restart policy format: maximum retry count must be an integer"},
		{"-a stdfoo busybox", "valid streams are STDIN, STDOUT and STDERR"},
		{"--add-host foo busybox", `bad format for add-host: "foo"`},
		{"--cpus abc busybox", "failed to parse abc as a rational number"},
		{"--memory-swappiness 200 busybox", "invalid value: 200. Valid memory swappiness range is 0-100"},
		{"--security-opt foo busybox", `invalid --security-opt: "foo"`},
	} {
		_, err := parseArgs(t, strings.Fields(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestParseMountValues(t *testing.T) {
	cfg, err := parseArgs(t, []string{"--mount", "type=volume,source=data,target=/d,volume-label=a=b,volume-driver=local,volume-opt=o=1,volume-subpath=sub", "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	want := []mount.Mount{{
		Type: mount.TypeVolume, Source: "data", Target: "/d",
		VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{"a": "b"}, Subpath: "sub",
			DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"o": "1"}}},
	}}
	if !reflect.DeepEqual(cfg.HostConfig.Mounts, want) {
		t.Errorf("got %+v", cfg.HostConfig.Mounts)
	}
}

func TestEnvFile(t *testing.T) {
	t.Setenv("FROM_ENV", "x")
	dir := t.TempDir()
	path := filepath.Join(dir, "env")
	if err := os.WriteFile(path, []byte("\uFEFFA=1\n  # c\n\nFROM_ENV\nNOT_SET_ANYWHERE_Q\nB= two \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseArgs(t, []string{"--env-file", path, "-e", "A=2", "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "FROM_ENV=x", "B= two ", "A=2"}
	if !reflect.DeepEqual(cfg.Config.Env, want) {
		t.Errorf("got %q, want %q", cfg.Config.Env, want)
	}
	if _, err := parseArgs(t, []string{"--env-file", filepath.Join(dir, "missing"), "busybox"}); err == nil || !strings.HasPrefix(err.Error(), "--env-file: open ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestValidatePull(t *testing.T) {
	for _, ok := range []string{"always", "missing", "never"} {
		if err := validatePull(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if err := validatePull("sometimes"); err == nil || err.Error() != `invalid pull option: 'sometimes': must be one of "always", "missing" or "never"` {
		t.Errorf("got %v", err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
