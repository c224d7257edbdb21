// Package jsonfile implements Docker's json-file log driver: the on-disk
// format (one JSON object per line, {"log":...,"stream":...,"time":...}),
// size based rotation to <path>.1, <path>.2, ... and a reader with
// tail/since/until/follow support for `docker logs`.
//
// The writer side is used by the per-container shim and deliberately only
// depends on the standard library and github.com/docker/go-units.
package jsonfile

import (
	"errors"
	"fmt"
	"strconv"

	units "github.com/docker/go-units"
)

// WriterOptions configures rotation.
type WriterOptions struct {
	// MaxSize is the size in bytes at which the current file is rotated.
	// 0 (or negative) means unlimited.
	MaxSize int64
	// MaxFiles is the maximum number of files kept, including the current
	// one (Docker's max-file). 1 (or 0, the zero value) keeps no rotated
	// files: the current file is replaced when it reaches MaxSize.
	MaxFiles int
}

// ParseOptions parses Docker's json-file --log-opt keys.
//
// max-size is parsed like Docker does it (units.FromHumanSize, i.e. decimal
// units: "10m" = 10,000,000 bytes) and must be positive. max-file must be an
// integer >= 1. compress=true is rejected (compression is not implemented).
// labels, labels-regex, env, env-regex and tag are accepted and ignored, as
// are the generic log options mode and max-buffer-size that Docker validates
// outside the driver.
func ParseOptions(opts map[string]string) (WriterOptions, error) {
	o := WriterOptions{MaxSize: 0, MaxFiles: 1}
	for key := range opts {
		switch key {
		case "max-file", "max-size", "compress",
			"labels", "labels-regex", "env", "env-regex", "tag",
			"mode", "max-buffer-size":
		default:
			return WriterOptions{}, fmt.Errorf("unknown log opt '%s' for json-file log driver", key)
		}
	}
	if v, ok := opts["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		if err != nil {
			return WriterOptions{}, err
		}
		if n <= 0 {
			return WriterOptions{}, errors.New("max-size must be a positive number")
		}
		o.MaxSize = n
	}
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return WriterOptions{}, err
		}
		if n < 1 {
			return WriterOptions{}, errors.New("max-file cannot be less than 1")
		}
		o.MaxFiles = n
	}
	if v, ok := opts["compress"]; ok {
		c, err := strconv.ParseBool(v)
		if err != nil {
			return WriterOptions{}, err
		}
		if c {
			if o.MaxFiles == 1 || o.MaxSize <= 0 {
				return WriterOptions{}, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
			}
			return WriterOptions{}, errors.New("compress=true is not supported by the json-file log driver of this engine; use compress=false")
		}
	}
	if v, ok := opts["mode"]; ok && v != "" && v != "blocking" && v != "non-blocking" {
		return WriterOptions{}, fmt.Errorf("logger: logging mode not supported: %s", v)
	}
	if v, ok := opts["max-buffer-size"]; ok {
		if _, err := units.RAMInBytes(v); err != nil {
			return WriterOptions{}, fmt.Errorf("could not parse max-buffer-size value %q: %w", v, err)
		}
	}
	return o, nil
}
