// Package filters parses the `filters` query parameter of the Engine API and
// matches values against it. Both wire forms are accepted:
// {"name":{"a":true}} (current) and {"name":["a"]} (API < 1.22 clients).
package filters

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
)

// Args maps a filter key to the set of values given for it.
type Args map[string]map[string]bool

// Parse decodes a filters query value; an empty value is no filter.
func Parse(s string) (Args, error) {
	args := Args{}
	if s == "" {
		return args, nil
	}
	if err := json.Unmarshal([]byte(s), &args); err == nil {
		return args, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(s), &legacy); err != nil {
		return nil, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter: %q is not a JSON object of filter values: %v", s, err))
	}
	for k, vs := range legacy {
		for _, v := range vs {
			args.Add(k, v)
		}
	}
	return args, nil
}

// Add adds a value to key.
func (a Args) Add(key, value string) {
	if a[key] == nil {
		a[key] = map[string]bool{}
	}
	a[key][value] = true
}

// Get returns key's values, sorted.
func (a Args) Get(key string) []string {
	vs := make([]string, 0, len(a[key]))
	for v := range a[key] {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Has reports whether key was given.
func (a Args) Has(key string) bool { return len(a[key]) > 0 }

// Validate returns an invalid-argument error naming the first key not in
// allowed, in Docker's words.
func (a Args) Validate(allowed ...string) error {
	for k := range a {
		ok := false
		for _, al := range allowed {
			if k == al {
				ok = true
				break
			}
		}
		if !ok {
			return cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	return nil
}

// ExactMatch reports whether key is absent or one of its values equals s.
func (a Args) ExactMatch(key, s string) bool {
	if len(a[key]) == 0 {
		return true
	}
	return a[key][s]
}

// Match reports whether key is absent or one of its values matches s, as a
// regular expression or, failing to compile, as a substring (Docker's rule).
func (a Args) Match(key, s string) bool {
	if len(a[key]) == 0 {
		return true
	}
	for v := range a[key] {
		if re, err := regexp.Compile(v); err == nil {
			if re.MatchString(s) {
				return true
			}
		} else if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// MatchKVList reports whether every `key` value ("k" or "k=v") holds in
// labels. Absent key matches everything.
func (a Args) MatchKVList(key string, labels map[string]string) bool {
	for v := range a[key] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// Bool returns the value of a boolean filter (true/false/1/0), or def when
// absent. More than one value, or a value that is not a boolean, is an error.
func (a Args) Bool(key string, def bool) (bool, error) {
	vs := a.Get(key)
	switch len(vs) {
	case 0:
		return def, nil
	case 1:
	default:
		return false, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s': expected one value, got %d", key, len(vs)))
	}
	switch strings.ToLower(vs[0]) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s=%s': value must be true or false", key, vs[0]))
}
