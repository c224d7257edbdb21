package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// parse is what berthd does at start: defaults, flags bound and parsed.
func parse(t *testing.T, args ...string) (Config, *pflag.FlagSet) {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	InstallFlags(fs, c)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return *c, fs
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	def := *Default()
	with := func(f func(*Config)) Config {
		c := def
		f(&c)
		return c
	}
	tests := []struct {
		name    string
		args    []string
		file    string // daemon.json content; "" = no file
		want    Config
		wantErr string
	}{
		{name: "defaults", want: def},
		{name: "empty file", file: " \n", want: def},
		{name: "empty object", file: "{}", want: def},
		{
			name: "flags",
			args: []string{"-H", "unix:///a.sock", "-H", "fd://", "--data-root=/d", "--exec-root=/e", "--pidfile=/p", "--group=g", "--max-volumes=5", "--log-level=warn", "-D", "--label", "a=b,c", "--label", "x="},
			want: Config{Hosts: []string{"unix:///a.sock", "fd://"}, DataRoot: "/d", ExecRoot: "/e", Pidfile: "/p", Group: "g", MaxVolumes: 5, LogLevel: "warn", Debug: true, Labels: []string{"a=b,c", "x="}, LogDriver: "json-file", CgroupParent: "/berth", Bridge: "berth0", RegistryCertsDir: DefaultRegistryCertsDir},
		},
		{
			name: "file",
			file: `{"hosts":["unix:///a.sock","tcp://127.0.0.1:2375"],"data-root":"/d","exec-root":"/e","pidfile":"/p","group":"g","insecure-tcp":true,"max-volumes":10,"log-level":"error","debug":true,"labels":["a=b"],"live-restore":true,"log-opts":{"max-size":"1m"},"cgroup-parent":"/c"}`,
			want: Config{Hosts: []string{"unix:///a.sock", "tcp://127.0.0.1:2375"}, DataRoot: "/d", ExecRoot: "/e", Pidfile: "/p", Group: "g", InsecureTCP: true, MaxVolumes: 10, LogLevel: "error", Debug: true, Labels: []string{"a=b"}, LiveRestore: true, LogDriver: "json-file", LogOpts: map[string]string{"max-size": "1m"}, CgroupParent: "/c", Bridge: "berth0", RegistryCertsDir: DefaultRegistryCertsDir},
		},
		{
			name: "flags and file on different keys merge",
			args: []string{"--max-volumes=5", "-H", "unix:///f.sock"},
			file: `{"log-level":"debug","data-root":"/d"}`,
			want: with(func(c *Config) {
				c.MaxVolumes, c.Hosts, c.LogLevel, c.DataRoot = 5, []string{"unix:///f.sock"}, "debug", "/d"
			}),
		},
		{
			name:    "conflict",
			args:    []string{"--max-volumes=5"},
			file:    `{"max-volumes": 10}`,
			wantErr: "the following directives are specified both as a flag and in the configuration file: max-volumes: (from flag: 5, from file: 10)",
		},
		{
			name:    "conflicts on plural keys, sorted",
			args:    []string{"-H", "unix:///a", "--label=a=b", "--debug"},
			file:    `{"labels":["c=d"],"hosts":["unix:///b"],"debug":false}`,
			wantErr: "the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: false), hosts: (from flag: [unix:///a], from file: [unix:///b]), labels: (from flag: [a=b], from file: [c=d])",
		},
		{
			name:    "flag set to its default still conflicts",
			args:    []string{"--data-root=/var/lib/berth"},
			file:    `{"data-root":"/other"}`,
			wantErr: "data-root: (from flag: /var/lib/berth, from file: /other)",
		},
		{
			name:    "unknown key",
			file:    `{"foo": 1}`,
			wantErr: "the following directives don't match any configuration option: foo",
		},
		{
			name:    "unknown keys sorted, flag names are not keys",
			file:    `{"zed": 1, "host": ["unix:///a"], "config-file": "/x", "max-volumes": 1}`,
			wantErr: "the following directives don't match any configuration option: config-file, host, zed",
		},
		{name: "malformed", file: `{"max-volumes": 1,`, wantErr: "daemon.json: malformed JSON"},
		{name: "not an object", file: `[1]`, wantErr: "daemon.json: malformed JSON"},
		{name: "wrong type", file: `{"max-volumes": "ten"}`, wantErr: "daemon.json: invalid value: json: cannot unmarshal string"},
		{name: "negative max-volumes flag", args: []string{"--max-volumes=-1"}, wantErr: "invalid max-volumes -1: must be 0 (unlimited) or more"},
		{name: "negative max-volumes file", file: `{"max-volumes": -3}`, wantErr: "invalid max-volumes -3"},
		{name: "bad log-level", args: []string{"--log-level=verbose"}, wantErr: `invalid log-level "verbose": must be one of debug, info, warn, error, fatal`},
		{name: "log-level empty", file: `{"log-level": ""}`, wantErr: `invalid log-level ""`},
		{name: "bad host", args: []string{"-H", "/run/x.sock"}, wantErr: `invalid host "/run/x.sock"`},
		{name: "bad proto", file: `{"hosts":["udp://:1"]}`, wantErr: `unsupported protocol "udp"`},
		{name: "no hosts", file: `{"hosts":[]}`, wantErr: "no hosts to listen on"},
		{name: "tcp without insecure-tcp", args: []string{"-H", "tcp://127.0.0.1:2375"}, wantErr: "refusing to listen on tcp://127.0.0.1:2375: tcp hosts need insecure-tcp"},
		{
			name: "tcp with insecure-tcp",
			args: []string{"-H", "tcp://127.0.0.1:2375"},
			file: `{"insecure-tcp": true}`,
			want: with(func(c *Config) { c.Hosts, c.InsecureTCP = []string{"tcp://127.0.0.1:2375"}, true }),
		},
		{name: "relative data-root", args: []string{"--data-root=var/lib"}, wantErr: `invalid data-root "var/lib": must be an absolute path`},
		{name: "bad label", file: `{"labels":["novalue"]}`, wantErr: `invalid label "novalue": must be key=value`},
		{
			name: "init and init-path in the file",
			file: `{"init": true, "init-path": "/usr/bin/tini-static"}`,
			want: with(func(c *Config) { c.Init, c.InitPath = true, "/usr/bin/tini-static" }),
		},
		{
			name: "init flags, init-path a name",
			args: []string{"--init", "--init-path=tini-static"},
			want: with(func(c *Config) { c.Init, c.InitPath = true, "tini-static" }),
		},
		{name: "relative init-path", file: `{"init-path": "bin/tini"}`, wantErr: `invalid init-path "bin/tini": must be an absolute path or a name looked up in PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, fs := parse(t, tt.args...)
			file := filepath.Join(t.TempDir(), "daemon.json")
			if tt.file != "" {
				file = writeFile(t, tt.file)
			}
			got, err := Load(base, fs, file, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	base, fs := parse(t)
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := Load(base, fs, missing, false); err != nil {
		t.Fatalf("missing file at the default path: %v", err)
	}
	if _, err := Load(base, fs, missing, true); err == nil || !strings.Contains(err.Error(), "nope.json: no such file") {
		t.Fatalf("missing file given explicitly: err = %v", err)
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	base, fs := parse(t)
	file := writeFile(t, "{")
	_, err := Load(base, fs, file, true)
	if err == nil || !strings.HasPrefix(err.Error(), "configuration file "+file+": malformed JSON") {
		t.Fatalf("err = %v", err)
	}
}

// Loading again (a reload) must see the flags, not what a previous load
// merged from the file, and must not write into base.
func TestLoadLeavesBaseAlone(t *testing.T) {
	base, fs := parse(t, "--label=a=b")
	file := writeFile(t, `{"hosts":["unix:///one"],"max-volumes":4}`)
	first, err := Load(base, fs, file, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := Load(base, fs, file, true)
	if err != nil {
		t.Fatal(err)
	}
	if first.MaxVolumes != 4 || second.MaxVolumes != 0 || second.Hosts[0] != DefaultHost || base.Hosts[0] != DefaultHost {
		t.Fatalf("first %+v second %+v base %+v", first, second, base)
	}
}

func TestReload(t *testing.T) {
	cur := *Default()
	cur.MaxVolumes = 5
	with := func(f func(*Config)) Config {
		c := cur
		f(&c)
		return c
	}
	tests := []struct {
		name        string
		next        Config
		want        Config
		wantIgnored []string
	}{
		{name: "no change", next: cur, want: cur},
		{
			name: "live keys apply",
			next: with(func(c *Config) { c.MaxVolumes, c.LogLevel, c.Debug, c.Labels = 10, "error", true, []string{"a=b"} }),
			want: with(func(c *Config) { c.MaxVolumes, c.LogLevel, c.Debug, c.Labels = 10, "error", true, []string{"a=b"} }),
		},
		{
			name: "restart keys are ignored",
			next: with(func(c *Config) {
				c.Hosts, c.DataRoot, c.ExecRoot, c.Pidfile, c.Group, c.InsecureTCP = []string{"fd://"}, "/d", "/e", "/p", "g", true
			}),
			want:        cur,
			wantIgnored: []string{"hosts", "data-root", "exec-root", "pidfile", "group", "insecure-tcp"},
		},
		{
			name: "registries apply, certs dir needs a restart",
			next: with(func(c *Config) {
				c.InsecureRegistries, c.RegistryMirrors, c.RegistryCertsDir = []string{"r:5000"}, []string{"https://m/"}, "/certs"
			}),
			want:        with(func(c *Config) { c.InsecureRegistries, c.RegistryMirrors = []string{"r:5000"}, []string{"https://m/"} }),
			wantIgnored: []string{"registry-certs-dir"},
		},
		{
			name:        "mixed",
			next:        with(func(c *Config) { c.MaxVolumes, c.DataRoot = 0, "/d" }),
			want:        with(func(c *Config) { c.MaxVolumes = 0 }),
			wantIgnored: []string{"data-root"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ignored := Reload(cur, tt.next)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !reflect.DeepEqual(ignored, tt.wantIgnored) {
				t.Errorf("ignored %v, want %v", ignored, tt.wantIgnored)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	for _, tt := range []struct {
		level string
		debug bool
		want  string
	}{{"info", false, "info"}, {"error", true, "debug"}, {"warn", false, "warn"}} {
		if got := (Config{LogLevel: tt.level, Debug: tt.debug}).Level(); got != tt.want {
			t.Errorf("Level(%q, debug=%v) = %q, want %q", tt.level, tt.debug, got, tt.want)
		}
	}
}

func TestKeys(t *testing.T) {
	want := []string{"hosts", "data-root", "exec-root", "pidfile", "group", "insecure-tcp", "max-volumes", "log-level", "debug", "labels", "storage-driver", "insecure-registries", "registry-mirrors", "registry-certs-dir", "live-restore", "log-driver", "log-opts", "cgroup-parent", "bridge", "bip", "mtu", "icc", "userland-proxy", "ip-forward", "iptables", "default-address-pools", "init", "init-path"}
	if got := Keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Keys() = %v", got)
	}
}

func TestStorageDriverValidated(t *testing.T) {
	for _, ok := range []string{"", "overlay2", "vfs"} {
		c := *Default()
		c.StorageDriver = ok
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	c := *Default()
	c.StorageDriver = "aufs"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `invalid storage-driver "aufs"`) {
		t.Errorf("aufs: %v", err)
	}
}

func TestInsecureRegistries(t *testing.T) {
	base, fs := parse(t, "--insecure-registry", "myreg:5000", "--insecure-registry=10.0.0.0/8")
	got, err := Load(base, fs, filepath.Join(t.TempDir(), "none.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.InsecureRegistries, []string{"myreg:5000", "10.0.0.0/8"}) {
		t.Fatalf("from flags: %v", got.InsecureRegistries)
	}
	base, fs = parse(t)
	got, err = Load(base, fs, writeFile(t, `{"insecure-registries": ["Reg.Example:443", "192.168.1.0/24", "[::1]:5000"]}`), false)
	if err != nil {
		t.Fatal(err)
	}
	cidrs, hosts, err := ParseInsecureRegistries(got.InsecureRegistries)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cidrs) != "[127.0.0.0/8 ::1/128 192.168.1.0/24]" || fmt.Sprint(hosts) != "[reg.example:443 [::1]:5000]" {
		t.Fatalf("cidrs %v hosts %v", cidrs, hosts)
	}
	base, fs = parse(t, "--insecure-registry=a:1")
	if _, err := Load(base, fs, writeFile(t, `{"insecure-registries": ["b"]}`), false); err == nil || !strings.Contains(err.Error(), "insecure-registries: (from flag: [a:1], from file: [b])") {
		t.Fatalf("flag and file: %v", err)
	}
	for _, bad := range []string{"http://reg:5000", "reg/path", "", "reg:99999", "user@reg"} {
		c := *Default()
		c.InsecureRegistries = []string{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "invalid insecure-registries entry") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestNetworkSettings(t *testing.T) {
	fs := pflag.NewFlagSet("berthd", pflag.ContinueOnError)
	base := Default()
	InstallFlags(fs, base)
	if err := fs.Parse([]string{"--bridge=none", "--iptables=false", "--icc=false", "--bip", "172.30.0.1/16"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(file, []byte(`{"mtu":1400,"default-address-pools":[{"base":"10.10.0.0/16","size":24}]}`), 0o644)
	cfg, err := Load(*base, fs, file, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bridge != "none" || On(cfg.IPTables) || On(cfg.ICC) || !On(cfg.IPForward) || !On(cfg.UserlandProxy) || cfg.BIP != "172.30.0.1/16" || cfg.MTU != 1400 || len(cfg.DefaultAddressPools) != 1 {
		t.Fatalf("network settings: %+v", cfg)
	}
	os.WriteFile(file, []byte(`{"iptables":false}`), 0o644)
	if _, err := Load(*base, fs, file, true); err == nil || !strings.Contains(err.Error(), "iptables") {
		t.Fatalf("iptables both as a flag and in the file: %v", err)
	}
	os.WriteFile(file, []byte(`{"bip":"nope"}`), 0o644)
	if _, err := Load(*Default(), pflag.NewFlagSet("x", pflag.ContinueOnError), file, true); err == nil {
		t.Fatal("invalid bip accepted")
	}
}
