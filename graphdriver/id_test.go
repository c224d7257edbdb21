package graphdriver

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"a", strings.Repeat("f", 64), strings.Repeat("f", 64) + "-init", "x.y_z"} {
		if err := CheckID(ok); err != nil {
			t.Errorf("CheckID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../a", "/a", "a\\b", "a:b", "a,b", "a\x00", strings.Repeat("f", MaxIDLength+1)} {
		if err := CheckID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("CheckID(%q): %v", bad, err)
		}
	}
}
