package opts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// ListOpt is a repeatable string flag ("list" in --help), optionally
// checked or rewritten by a validator on each value, like docker's ListOpts.
type ListOpt struct {
	values   []string
	validate func(string) (string, error)
}

// NewListOpt returns a ListOpt; validate may be nil.
func NewListOpt(validate func(string) (string, error)) *ListOpt {
	return &ListOpt{validate: validate}
}

// Set appends one value.
func (o *ListOpt) Set(value string) error {
	if o.validate != nil {
		v, err := o.validate(value)
		if err != nil {
			return err
		}
		value = v
	}
	o.values = append(o.values, value)
	return nil
}

// Type is shown in --help.
func (o *ListOpt) Type() string { return "list" }

// String is empty so that --help shows no default.
func (o *ListOpt) String() string { return "" }

// Values is what was given, in order; nil if nothing.
func (o *ListOpt) Values() []string { return o.values }

// Len is the number of values given.
func (o *ListOpt) Len() int { return len(o.values) }

// Has reports whether value was given.
func (o *ListOpt) Has(value string) bool {
	for _, v := range o.values {
		if v == value {
			return true
		}
	}
	return false
}

// MemBytes is a size flag ("bytes" in --help) taking docker's units
// (RAMInBytes: 512m, 1g...).
type MemBytes int64

// Set parses a size.
func (m *MemBytes) Set(value string) error {
	v, err := units.RAMInBytes(value)
	*m = MemBytes(v)
	return err
}

// Type is shown in --help.
func (m *MemBytes) Type() string { return "bytes" }

// String shows nothing for zero, like docker.
func (m *MemBytes) String() string {
	if *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

// Value is the size in bytes.
func (m *MemBytes) Value() int64 { return int64(*m) }

// MemSwapBytes is MemBytes that also accepts -1 (unlimited).
type MemSwapBytes int64

// Set parses a size or -1.
func (m *MemSwapBytes) Set(value string) error {
	if value == "-1" {
		*m = -1
		return nil
	}
	v, err := units.RAMInBytes(value)
	*m = MemSwapBytes(v)
	return err
}

// Type is shown in --help.
func (m *MemSwapBytes) Type() string { return "bytes" }

// String shows the value.
func (m *MemSwapBytes) String() string { return strconv.FormatInt(int64(*m), 10) }

// Value is the size in bytes (-1 for unlimited).
func (m *MemSwapBytes) Value() int64 { return int64(*m) }

// NanoCPUs is --cpus: a decimal number of CPUs held in billionths.
type NanoCPUs int64

// Set parses a decimal such as 1.5, worded as docker on error.
func (c *NanoCPUs) Set(value string) error {
	cpu, ok := new(big.Rat).SetString(value)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", value)
	}
	nano := cpu.Mul(cpu, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return errors.New("value is too precise")
	}
	*c = NanoCPUs(nano.Num().Int64())
	return nil
}

// Type is shown in --help.
func (c *NanoCPUs) Type() string { return "decimal" }

// String is the decimal given.
func (c *NanoCPUs) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

// Value is the number of nano CPUs.
func (c *NanoCPUs) Value() int64 { return int64(*c) }

// UlimitOpt is --ulimit name=soft[:hard].
type UlimitOpt struct{ values []*container.Ulimit }

// Set parses one ulimit; a later one of the same name wins.
func (o *UlimitOpt) Set(value string) error {
	l, err := units.ParseUlimit(value)
	if err != nil {
		return err
	}
	for i, v := range o.values {
		if v.Name == l.Name {
			o.values[i] = l
			return nil
		}
	}
	o.values = append(o.values, l)
	return nil
}

// Type is shown in --help.
func (o *UlimitOpt) Type() string { return "ulimit" }

// String lists the ulimits as docker does.
func (o *UlimitOpt) String() string {
	out := make([]string, len(o.values))
	for i, v := range o.values {
		out[i] = v.String()
	}
	return "[" + strings.Join(out, " ") + "]"
}

// Value is the ulimits given.
func (o *UlimitOpt) Value() []*container.Ulimit { return o.values }

// MountOpt is --mount with docker's CSV syntax.
type MountOpt struct{ values []mount.Mount }

// Type is shown in --help.
func (o *MountOpt) Type() string { return "mount" }

// String lists the mounts given.
func (o *MountOpt) String() string {
	out := make([]string, len(o.values))
	for i, m := range o.values {
		out[i] = fmt.Sprintf("%s %s %s", m.Type, m.Source, m.Target)
	}
	return strings.Join(out, ", ")
}

// Value is the mounts given.
func (o *MountOpt) Value() []mount.Mount { return o.values }

// Set parses one --mount value as docker does: type defaults to volume,
// a relative "./" source is made absolute, and options that do not belong
// to the type are refused.
func (o *MountOpt) Set(value string) error {
	value = strings.TrimSpace(value)
	if value == "" {
		return errors.New("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	bindOpts := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	// Any volume-* option sets an empty driver config too, as docker 28
	// sends it.
	volOpts := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		if m.VolumeOptions.DriverConfig == nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return m.VolumeOptions
	}
	volDriver := func() *mount.Driver {
		if volOpts().DriverConfig == nil {
			m.VolumeOptions.DriverConfig = &mount.Driver{}
		}
		return m.VolumeOptions.DriverConfig
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if k := strings.TrimSpace(key); k != key {
			return fmt.Errorf("invalid option '%s' in '%s': option should not have whitespace", k, field)
		}
		if hasValue {
			v := strings.TrimSpace(val)
			if v == "" {
				return fmt.Errorf("invalid value for '%s': value is empty", key)
			}
			if v != val {
				return fmt.Errorf("invalid value for '%s' in '%s': value should not have whitespace", key, field)
			}
		}
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src":
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
			if !filepath.IsAbs(val) && strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					m.Source = abs
				}
			}
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = parseBool(key, val, hasValue); err != nil {
				return err
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			return errors.New("bind-nonrecursive is deprecated, use bind-recursive=disabled instead")
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable":
				bindOpts().ReadOnlyNonRecursive = true
			case "readonly":
				bindOpts().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "bind-create-src":
			if bindOpts().CreateMountpoint, err = parseBool(key, val, hasValue); err != nil {
				return err
			}
		case "volume-subpath":
			volOpts().Subpath = val
		case "volume-nocopy":
			if volOpts().NoCopy, err = parseBool(key, val, hasValue); err != nil {
				return err
			}
		case "volume-label":
			vo := volOpts()
			vo.Labels = setOnMap(vo.Labels, val)
		case "volume-driver":
			volDriver().Name = val
		case "volume-opt":
			d := volDriver()
			d.Options = setOnMap(d.Options, val)
		case "image-subpath":
			if m.ImageOptions == nil {
				m.ImageOptions = &mount.ImageOptions{}
			}
			m.ImageOptions.Subpath = val
		case "tmpfs-size":
			size, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = size
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(mode)
		default:
			return fmt.Errorf("unknown option '%s' in '%s'", key, field)
		}
	}
	for _, c := range []struct {
		typ mount.Type
		set bool
		pfx string
	}{
		{mount.TypeBind, m.BindOptions != nil, "bind"},
		{mount.TypeVolume, m.VolumeOptions != nil, "volume"},
		{mount.TypeImage, m.ImageOptions != nil, "image"},
		{mount.TypeTmpfs, m.TmpfsOptions != nil, "tmpfs"},
	} {
		if c.set && m.Type != c.typ {
			return fmt.Errorf("cannot mix '%s-*' options with mount type '%s'", c.pfx, m.Type)
		}
	}
	if b := m.BindOptions; b != nil {
		if b.ReadOnlyNonRecursive && !m.ReadOnly {
			return errors.New("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
		}
		if b.ReadOnlyForceRecursive {
			if !m.ReadOnly {
				return errors.New("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
			}
			if b.Propagation != mount.PropagationRPrivate {
				return errors.New("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction")
			}
		}
	}
	o.values = append(o.values, m)
	return nil
}

func parseBool(key, val string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch val {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf(`invalid value for '%s': invalid boolean value (%q): must be one of "true", "1", "false", or "0" (default "true")`, key, val)
}

func setOnMap(m map[string]string, kv string) map[string]string {
	k, v, _ := strings.Cut(kv, "=")
	if k == "" {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// ValidateEnv completes a bare NAME from the environment, as docker's -e
// does: "-e FOO" sends FOO's value if it is set, and just "FOO" if not.
func ValidateEnv(val string) (string, error) {
	k, _, hasValue := strings.Cut(val, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + val)
	}
	if hasValue {
		return val, nil
	}
	if v, ok := os.LookupEnv(val); ok {
		return val + "=" + v, nil
	}
	return val, nil
}

// ReadEnvFiles reads docker --env-file files (NAME=value lines, # comments,
// bare NAME taken from the environment if set) and appends the -e values
// after them, which thus win.
func ReadEnvFiles(files, override []string) ([]string, error) {
	var out []string
	for _, f := range files {
		lines, err := parseKVFile(f, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return append(out, override...), nil
}

// ReadLabelFiles reads --label-file files (lines of label=value) and
// appends the -l values.
func ReadLabelFiles(files, override []string) ([]string, error) {
	var out []string
	for _, f := range files {
		lines, err := parseKVFile(f, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return append(out, override...), nil
}

func parseKVFile(name string, lookup func(string) (string, bool)) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("invalid env file (%s): invalid utf8 bytes at line %d: %v", name, n, []byte(line))
		}
		line = strings.TrimLeftFunc(line, unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, hasValue := strings.Cut(line, "=")
		if k == "" {
			return nil, fmt.Errorf("no variable name on line '%s'", line)
		}
		if strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", k)
		}
		if hasValue || lookup == nil {
			lines = append(lines, line)
			continue
		}
		if v, ok := lookup(k); ok {
			lines = append(lines, k+"="+v)
		}
	}
	return lines, sc.Err()
}
