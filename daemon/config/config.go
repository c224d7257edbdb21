// Package config is berthd's configuration: the Config struct whose fields
// are both command-line flags and daemon.json keys under the same names, and
// the rules that merge the two (defaults, then flags, then the file, with a
// setting given by both being an error, as in dockerd).
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-engine/berth/daemon/listeners"
)

// Defaults.
const (
	DefaultHost         = "unix:///run/berth.sock"
	DefaultDataRoot     = "/var/lib/berth"
	DefaultExecRoot     = "/run/berth"
	DefaultConfigFile   = "/etc/berth/daemon.json"
	DefaultPidfile      = "/run/berth.pid"
	DefaultGroup        = "berth"
	DefaultLogLevel     = "info"
	DefaultLogDriver    = "json-file"
	DefaultBridge       = "berth0"
	DefaultCgroupParent = "/berth"
)

// logDrivers are the accepted values of log-driver.
var logDrivers = []string{"json-file", "none"}

// logLevels are the accepted values of log-level.
var logLevels = []string{"debug", "info", "warn", "error", "fatal"}

// Config is berthd's configuration. The json tag of each field is its
// daemon.json key and, for all but the repeatable hosts and labels (flags
// --host and --label), its flag name too.
type Config struct {
	Hosts       []string `json:"hosts,omitempty"`
	DataRoot    string   `json:"data-root,omitempty"`
	ExecRoot    string   `json:"exec-root,omitempty"`
	Pidfile     string   `json:"pidfile,omitempty"`
	Group       string   `json:"group,omitempty"`
	InsecureTCP bool     `json:"insecure-tcp,omitempty"`
	MaxVolumes  int      `json:"max-volumes,omitempty"`
	LogLevel    string   `json:"log-level,omitempty"`
	Debug       bool     `json:"debug,omitempty"`
	Labels      []string `json:"labels,omitempty"`
	// StorageDriver is the graph driver for image and container layers; ""
	// picks overlay2 where the backing filesystem supports it, else vfs.
	StorageDriver string `json:"storage-driver,omitempty"`
	// InsecureRegistries are the registries (host[:port], or CIDRs of their
	// addresses) reached over plain HTTP or unverified HTTPS; 127.0.0.0/8
	// and ::1 always are (DefaultInsecureRegistryCIDRs).
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	// RegistryMirrors are Docker Hub's mirrors (http:// or https:// URLs),
	// tried in order before Hub by pulls (see ParseMirrors).
	RegistryMirrors []string `json:"registry-mirrors,omitempty"`
	// RegistryCertsDir holds registries' TLS material as dockerd's
	// /etc/docker/certs.d: <dir>/<host:port>/ with *.crt CA roots and
	// *.cert + *.key client certificate pairs.
	RegistryCertsDir string `json:"registry-certs-dir,omitempty"`
	// LiveRestore keeps containers running while berthd is down or
	// restarting; without it a clean shutdown stops them.
	LiveRestore bool `json:"live-restore,omitempty"`
	// LogDriver is the default log driver of new containers: json-file or
	// none; LogOpts its default options (max-size, max-file).
	LogDriver string            `json:"log-driver,omitempty"`
	LogOpts   map[string]string `json:"log-opts,omitempty"`
	// CgroupParent is the cgroup containers go under unless they name
	// their own (default /berth).
	CgroupParent string `json:"cgroup-parent,omitempty"`
	// Bridge is the Linux bridge of the default network "bridge" (berth0);
	// "none" disables the default network. BIP is its gateway address and
	// prefix; "" picks a subnet from DefaultAddressPools that avoids the
	// host's routes.
	Bridge string `json:"bridge,omitempty"`
	BIP    string `json:"bip,omitempty"`
	// MTU of the default bridge and the default of new networks (0: 1500).
	MTU int `json:"mtu,omitempty"`
	// ICC allows traffic between containers on the default bridge.
	ICC *bool `json:"icc,omitempty"`
	// UserlandProxy serves published ports on the host's loopback.
	UserlandProxy *bool `json:"userland-proxy,omitempty"`
	// IPForward turns on net.ipv4.ip_forward; IPTables lets berthd manage
	// its firewall table (nftables `table ip berth`).
	IPForward *bool `json:"ip-forward,omitempty"`
	IPTables  *bool `json:"iptables,omitempty"`
	// DefaultAddressPools are where networks without --subnet get theirs.
	DefaultAddressPools []AddressPool `json:"default-address-pools,omitempty"`
	// Init runs an init (tini) as every container's PID 1 unless its
	// HostConfig.Init is false (dockerd's default-init, key "init").
	// InitPath is that init: an absolute path, or a name looked up like
	// dockerd's docker-init; "" means docker-init, then Debian's
	// tini-static.
	Init     bool   `json:"init,omitempty"`
	InitPath string `json:"init-path,omitempty"`
}

// AddressPool is one of default-address-pools: base split into /size.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
}

// On reports whether an optional boolean setting is on; unset means on.
func On(b *bool) bool { return b == nil || *b }

// DefaultInsecureRegistryCIDRs are insecure whatever the configuration, as
// in Docker: registries on the loopback addresses.
var DefaultInsecureRegistryCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// storageDrivers are the accepted values of storage-driver.
var storageDrivers = []string{"", "overlay2", "vfs"}

// reloadable are the keys a reload applies live; the others need a restart.
var reloadable = []string{"max-volumes", "log-level", "debug", "labels", "live-restore", "insecure-registries", "registry-mirrors"}

// keyAnnotation marks a flag whose daemon.json key differs from its name.
const keyAnnotation = "berth.config-key"

// Default returns the configuration berthd runs with when nothing is set.
func Default() *Config {
	return &Config{
		Hosts:        []string{DefaultHost},
		DataRoot:     DefaultDataRoot,
		ExecRoot:     DefaultExecRoot,
		Pidfile:      DefaultPidfile,
		Group:        DefaultGroup,
		LogLevel:     DefaultLogLevel,
		LogDriver:    DefaultLogDriver,
		Bridge:       DefaultBridge,
		CgroupParent: DefaultCgroupParent,

		RegistryCertsDir: DefaultRegistryCertsDir,
	}
}

// InstallFlags binds c's fields to flags on fs; c's current values are the
// defaults shown in --help.
func InstallFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringArrayVarP(&c.Hosts, "host", "H", c.Hosts, "Daemon socket to listen on: unix:///path, tcp://host:port, fd:// or fd://N (repeatable)")
	fs.StringVar(&c.DataRoot, "data-root", c.DataRoot, "Root directory of persistent state")
	fs.StringVar(&c.ExecRoot, "exec-root", c.ExecRoot, "Root directory of execution state")
	fs.StringVar(&c.Pidfile, "pidfile", c.Pidfile, "Path of the daemon's pid file")
	fs.StringVar(&c.Group, "group", c.Group, "Group owning the unix sockets (mode 0660)")
	fs.BoolVar(&c.InsecureTCP, "insecure-tcp", c.InsecureTCP, "Allow tcp:// hosts: the API is then unauthenticated and unencrypted")
	fs.IntVar(&c.MaxVolumes, "max-volumes", c.MaxVolumes, "Maximum number of volumes (0 = unlimited)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "Log level: "+strings.Join(logLevels, ", "))
	fs.BoolVarP(&c.Debug, "debug", "D", c.Debug, "Debug logging (same as --log-level=debug)")
	fs.StringArrayVar(&c.Labels, "label", c.Labels, "Engine label key=value (repeatable)")
	fs.StringVarP(&c.StorageDriver, "storage-driver", "s", c.StorageDriver, "Storage driver for image and container layers: overlay2 or vfs (default: overlay2 where supported)")
	fs.StringArrayVar(&c.InsecureRegistries, "insecure-registry", c.InsecureRegistries, "Registry reached over plain HTTP or unverified HTTPS: host[:port] or CIDR (repeatable)")
	fs.StringArrayVar(&c.RegistryMirrors, "registry-mirror", c.RegistryMirrors, "Mirror of Docker Hub, an http:// or https:// URL, tried before it by pulls (repeatable)")
	fs.StringVar(&c.RegistryCertsDir, "registry-certs-dir", c.RegistryCertsDir, "Directory of registries' TLS material: <dir>/<host:port>/ with *.crt CAs and *.cert/*.key client pairs")
	fs.BoolVar(&c.LiveRestore, "live-restore", c.LiveRestore, "Keep containers running while berthd is down")
	fs.StringVar(&c.LogDriver, "log-driver", c.LogDriver, "Default log driver of containers: json-file or none")
	fs.StringToStringVar(&c.LogOpts, "log-opt", c.LogOpts, "Default log driver option key=value (max-size, max-file)")
	fs.StringVar(&c.CgroupParent, "cgroup-parent", c.CgroupParent, "Parent cgroup of containers")
	fs.StringVarP(&c.Bridge, "bridge", "b", c.Bridge, "Linux bridge of the default network (\"none\" disables it)")
	fs.StringVar(&c.BIP, "bip", c.BIP, "Default bridge's address and prefix, e.g. 172.20.0.1/16")
	fs.IntVar(&c.MTU, "mtu", c.MTU, "MTU of the default bridge and of new networks (0: 1500)")
	optBool(fs, &c.ICC, "icc", "Allow traffic between containers on the default bridge")
	optBool(fs, &c.UserlandProxy, "userland-proxy", "Serve published ports on the host's loopback with a proxy")
	optBool(fs, &c.IPForward, "ip-forward", "Enable net.ipv4.ip_forward")
	optBool(fs, &c.IPTables, "iptables", "Manage Berth's firewall table (nftables)")
	fs.BoolVar(&c.Init, "init", c.Init, "Run an init inside containers to forward signals and reap processes")
	fs.StringVar(&c.InitPath, "init-path", c.InitPath, "Path or name of the init binary (default: docker-init, then tini-static)")
	_ = fs.SetAnnotation("log-opt", keyAnnotation, []string{"log-opts"})
	_ = fs.SetAnnotation("host", keyAnnotation, []string{"hosts"})
	_ = fs.SetAnnotation("insecure-registry", keyAnnotation, []string{"insecure-registries"})
	_ = fs.SetAnnotation("registry-mirror", keyAnnotation, []string{"registry-mirrors"})
	_ = fs.SetAnnotation("label", keyAnnotation, []string{"labels"})
}

// optBool binds an on-by-default boolean to *p, which stays nil (on)
// unless the flag is given.
func optBool(fs *pflag.FlagSet, p **bool, name, usage string) {
	fs.Var(&optBoolValue{p}, name, usage+" (default true)")
	fs.Lookup(name).NoOptDefVal = "true"
}

type optBoolValue struct{ p **bool }

func (v *optBoolValue) String() string {
	if v.p == nil || *v.p == nil {
		return "true"
	}
	return strconv.FormatBool(**v.p)
}

func (v *optBoolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*v.p = &b
	return nil
}

func (v *optBoolValue) Type() string { return "bool" }

// Load returns base (the defaults with the command-line flags applied, i.e.
// the Config InstallFlags bound to flags) merged with the daemon.json at
// file, and validated. A missing file is no configuration unless required
// (the user named it). Berthd calls Load at start and again on SIGHUP, so
// the same rules hold for a reload.
func Load(base Config, flags *pflag.FlagSet, file string, required bool) (Config, error) {
	cfg := base
	cfg.Hosts = slices.Clone(base.Hosts)
	cfg.Labels = slices.Clone(base.Labels)
	cfg.InsecureRegistries = slices.Clone(base.InsecureRegistries)
	cfg.RegistryMirrors = slices.Clone(base.RegistryMirrors)
	cfg.LogOpts = maps.Clone(base.LogOpts)

	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist) && !required:
		b = nil
	case err != nil:
		return Config{}, fmt.Errorf("reading configuration file: %w", err)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := merge(&cfg, b, flags); err != nil {
			return Config{}, fmt.Errorf("configuration file %s: %w", file, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// merge decodes daemon.json b over cfg after refusing unknown keys and keys
// also set by a flag.
func merge(cfg *Config, b []byte, flags *pflag.FlagSet) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	known := Keys()
	var unknown []string
	for k := range raw {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", "))
	}
	var conflicts []string
	flags.Visit(func(f *pflag.Flag) {
		key := f.Name
		if a := f.Annotations[keyAnnotation]; len(a) == 1 {
			key = a[0]
		}
		if v, ok := raw[key]; ok {
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %v, from file: %v)", key, flagValue(f), v))
		}
	})
	if len(conflicts) > 0 {
		slices.Sort(conflicts)
		return fmt.Errorf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(conflicts, ", "))
	}
	if err := json.Unmarshal(b, cfg); err != nil {
		return fmt.Errorf("invalid value: %w", err)
	}
	return nil
}

// flagValue prints a flag's value the way the file's value prints: pflag
// shows arrays as "[a,b]", JSON arrays print as "[a b]".
func flagValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return fmt.Sprint(sv.GetSlice())
	}
	return f.Value.String()
}

// Validate checks values a flag or the file may have got wrong.
func (c Config) Validate() error {
	if len(c.Hosts) == 0 {
		return errors.New("no hosts to listen on")
	}
	for _, h := range c.Hosts {
		addr, err := listeners.ParseHost(h)
		if err != nil {
			return err
		}
		if addr.Proto == "tcp" && !c.InsecureTCP {
			return fmt.Errorf("refusing to listen on %s: tcp hosts need insecure-tcp until TLS is supported (the API would be unauthenticated and unencrypted)", h)
		}
	}
	for _, p := range [][2]string{{"data-root", c.DataRoot}, {"exec-root", c.ExecRoot}, {"pidfile", c.Pidfile}} {
		if !filepath.IsAbs(p[1]) {
			return fmt.Errorf("invalid %s %q: must be an absolute path", p[0], p[1])
		}
	}
	if c.MaxVolumes < 0 {
		return fmt.Errorf("invalid max-volumes %d: must be 0 (unlimited) or more", c.MaxVolumes)
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		return fmt.Errorf("invalid log-level %q: must be one of %s", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logDrivers, c.LogDriver) {
		return fmt.Errorf("invalid log-driver %q: must be one of %s", c.LogDriver, strings.Join(logDrivers, ", "))
	}
	if c.BIP != "" {
		if _, err := netip.ParsePrefix(c.BIP); err != nil {
			return fmt.Errorf("invalid bip %q: %v", c.BIP, err)
		}
	}
	if c.MTU < 0 || (c.MTU > 0 && c.MTU < 68) {
		return fmt.Errorf("invalid mtu %d", c.MTU)
	}
	for _, p := range c.DefaultAddressPools {
		pre, err := netip.ParsePrefix(p.Base)
		if err != nil || p.Size < pre.Bits() || p.Size > 32 {
			return fmt.Errorf("invalid default-address-pools entry %+v: base must be a prefix and size between its length and 32", p)
		}
	}
	if !strings.HasPrefix(c.CgroupParent, "/") {
		return fmt.Errorf("invalid cgroup-parent %q: must be an absolute cgroup path", c.CgroupParent)
	}
	if !slices.Contains(storageDrivers, c.StorageDriver) {
		return fmt.Errorf("invalid storage-driver %q: must be overlay2 or vfs", c.StorageDriver)
	}
	for _, l := range c.Labels {
		if k, _, ok := strings.Cut(l, "="); !ok || k == "" {
			return fmt.Errorf("invalid label %q: must be key=value", l)
		}
	}
	if _, _, err := ParseInsecureRegistries(c.InsecureRegistries); err != nil {
		return err
	}
	if _, err := ParseMirrors(c.RegistryMirrors); err != nil {
		return err
	}
	if !filepath.IsAbs(c.RegistryCertsDir) {
		return fmt.Errorf("invalid registry-certs-dir %q: must be an absolute path", c.RegistryCertsDir)
	}
	if strings.Contains(c.InitPath, "/") && !filepath.IsAbs(c.InitPath) {
		return fmt.Errorf("invalid init-path %q: must be an absolute path or a name looked up in PATH", c.InitPath)
	}
	return nil
}

// ParseInsecureRegistries splits insecure-registries into CIDRs and
// registry names (host[:port], lower-cased), the defaults first; an entry
// that is neither, or has a scheme, is an error.
func ParseInsecureRegistries(list []string) (cidrs []netip.Prefix, hosts []string, err error) {
	cidrs = slices.Clone(DefaultInsecureRegistryCIDRs)
	for _, r := range list {
		if strings.Contains(r, "://") {
			return nil, nil, fmt.Errorf("invalid insecure-registries entry %q: it must be host[:port] or a CIDR, without a scheme", r)
		}
		if p, perr := netip.ParsePrefix(r); perr == nil {
			p = p.Masked()
			if !slices.Contains(cidrs, p) {
				cidrs = append(cidrs, p)
			}
			continue
		}
		u, perr := url.Parse("//" + r)
		if r == "" || perr != nil || u.Host != r || u.Hostname() == "" || strings.ContainsAny(r, "/@?#") {
			return nil, nil, fmt.Errorf("invalid insecure-registries entry %q: it must be host[:port] or a CIDR", r)
		}
		if port := u.Port(); port != "" {
			if n, aerr := strconv.Atoi(port); aerr != nil || n < 1 || n > 65535 {
				return nil, nil, fmt.Errorf("invalid insecure-registries entry %q: invalid port %q", r, port)
			}
		}
		h := strings.ToLower(r)
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return cidrs, hosts, nil
}

// Level is the log level in force: debug wins over log-level.
func (c Config) Level() string {
	if c.Debug {
		return "debug"
	}
	return c.LogLevel
}

// Reload returns cur with the reloadable settings of next applied, and the
// keys whose change next asks for but which only take effect on restart.
func Reload(cur, next Config) (Config, []string) {
	out := cur
	var ignored []string
	cv, nv, ov := reflect.ValueOf(cur), reflect.ValueOf(next), reflect.ValueOf(&out).Elem()
	for i := range cv.NumField() {
		key := jsonKey(cv.Type().Field(i))
		if reflect.DeepEqual(cv.Field(i).Interface(), nv.Field(i).Interface()) {
			continue
		}
		if slices.Contains(reloadable, key) {
			ov.Field(i).Set(nv.Field(i))
		} else {
			ignored = append(ignored, key)
		}
	}
	return out, ignored
}

// Keys are the daemon.json keys.
func Keys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, jsonKey(t.Field(i)))
	}
	return keys
}

func jsonKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}
