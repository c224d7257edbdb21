package server

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestPopulateReachesNestedTypes checks that the warm-up's value has the
// deep parts of a runtime spec filled in, so that their decoders are built.
func TestPopulateReachesNestedTypes(t *testing.T) {
	var s specs.Spec
	populate(reflect.ValueOf(&s).Elem(), 0)
	if s.Linux == nil || s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) != 1 || len(s.Linux.Seccomp.Syscalls[0].Args) != 1 {
		t.Fatalf("seccomp rules not populated: %+v", s.Linux)
	}
	if s.Process == nil || s.Process.Capabilities == nil || len(s.Process.Rlimits) != 1 || len(s.Annotations) != 1 {
		t.Fatalf("process not populated: %+v", s.Process)
	}
}

// TestWarmJSONRoundTrips checks that every type warmJSON warms makes the
// round trip, so that no part of the warm-up is silently skipped.
func TestWarmJSONRoundTrips(t *testing.T) {
	for _, v := range warmTypes() {
		if err := roundTrip(v); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}
