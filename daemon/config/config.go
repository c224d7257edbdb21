// Package config is berthd's configuration: the Config struct whose fields
// are both command-line flags and daemon.json keys, under the same names.
package config

// Defaults.
const (
	DefaultHost       = "unix:///run/berth.sock"
	DefaultDataRoot   = "/var/lib/berth"
	DefaultExecRoot   = "/run/berth"
	DefaultConfigFile = "/etc/berth/daemon.json"
	DefaultPidfile    = "/run/berth.pid"
	DefaultGroup      = "berth"
)

// Config is berthd's configuration. The json tag of each field is both its
// daemon.json key and its flag name.
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
}

// Default returns the configuration berthd runs with when nothing is set.
func Default() *Config {
	return &Config{
		Hosts:    []string{DefaultHost},
		DataRoot: DefaultDataRoot,
		ExecRoot: DefaultExecRoot,
		Pidfile:  DefaultPidfile,
		Group:    DefaultGroup,
		LogLevel: "info",
	}
}
