// Package opts holds the repeatable flag values the docker CLI uses
// (--filter, --label, --opt), parsed and worded the same way.
package opts

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/client"
)

// FilterOpt is a repeatable -f/--filter key=value flag.
type FilterOpt struct {
	filters client.Filters
}

// NewFilterOpt returns an empty FilterOpt.
func NewFilterOpt() *FilterOpt { return &FilterOpt{filters: client.Filters{}} }

// Set adds one key=value; the key is lower-cased and both sides trimmed,
// as the docker CLI does, so "-f Name=foo" means the same as "-f name=foo".
func (o *FilterOpt) Set(value string) error {
	if value == "" {
		return nil
	}
	name, val, ok := strings.Cut(value, "=")
	if !ok {
		return errors.New("bad format of filter (expected name=value)")
	}
	o.filters.Add(strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val))
	return nil
}

// Type is shown in --help.
func (o *FilterOpt) Type() string { return "filter" }

// String lists the filters as given, for --help defaults.
func (o *FilterOpt) String() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(o.filters)) {
		for _, v := range slices.Sorted(maps.Keys(o.filters[k])) {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, " ")
}

// Value is the filters to send.
func (o *FilterOpt) Value() client.Filters { return o.filters.Clone() }

// KeyValueOpt is a repeatable key=value flag collected into a map:
// --label and -o/--opt. A value without "=" sets the key to "".
type KeyValueOpt struct {
	values   map[string]string
	typ      string
	validate func(string) error
}

// NewLabelOpt returns the --label flag value, which rejects an empty key.
func NewLabelOpt() *KeyValueOpt {
	return &KeyValueOpt{values: map[string]string{}, typ: "list", validate: validateLabel}
}

// NewMapOpt returns a -o/--opt style flag value that accepts anything.
func NewMapOpt() *KeyValueOpt {
	return &KeyValueOpt{values: map[string]string{}, typ: "map"}
}

func validateLabel(value string) error {
	key, _, _ := strings.Cut(value, "=")
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("invalid label '%s': empty name", value)
	}
	return nil
}

// Set adds one key[=value].
func (o *KeyValueOpt) Set(value string) error {
	if o.validate != nil {
		if err := o.validate(value); err != nil {
			return err
		}
	}
	k, v, _ := strings.Cut(value, "=")
	o.values[k] = v
	return nil
}

// Type is shown in --help.
func (o *KeyValueOpt) Type() string { return o.typ }

// String lists the pairs in key order; empty, so --help shows no default.
func (o *KeyValueOpt) String() string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(o.values)) {
		out = append(out, k+"="+o.values[k])
	}
	return strings.Join(out, " ")
}

// Value is the collected map, nil when the flag was not given so the
// request leaves the field out.
func (o *KeyValueOpt) Value() map[string]string {
	if len(o.values) == 0 {
		return nil
	}
	return maps.Clone(o.values)
}
