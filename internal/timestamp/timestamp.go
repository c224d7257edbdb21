// Package timestamp reads the time parameters the docker CLI sends (events'
// and logs' since and until): seconds since the epoch with an optional
// fractional part, which the CLI computes from durations and dates itself.
package timestamp

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// Parse returns the time s names; "" is the zero time.
func Parse(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid timestamp %q: want seconds since the epoch", s))
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, cerrdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid timestamp %q: want seconds since the epoch", s))
		}
		nsec = n * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(sec, nsec), nil
}
