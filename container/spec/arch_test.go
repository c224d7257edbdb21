package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDropDeadArches(t *testing.T) {
	sc := &specs.LinuxSeccomp{Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}}
	orig := slices.Clone(sc.Architectures)
	dropDeadArches(sc)
	want := []specs.Arch{specs.ArchX86_64, specs.ArchX86}
	if kernelRunsX32() {
		want = orig
	}
	if !slices.Equal(sc.Architectures, want) {
		t.Fatalf("architectures %v, want %v (kernel runs x32: %v)", sc.Architectures, want, kernelRunsX32())
	}
	dropDeadArches(nil) // unconfined: nothing to do
}
