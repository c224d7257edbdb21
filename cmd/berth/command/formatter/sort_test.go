package formatter

import (
	"slices"
	"testing"
)

func TestNaturalLess(t *testing.T) {
	names := []string{"vol10", "vol2", "Vol1", "vol02", "vol", "a10b2", "a10b10", "a9"}
	slices.SortFunc(names, func(a, b string) int {
		if NaturalLess(a, b) {
			return -1
		}
		if NaturalLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"Vol1", "a9", "a10b2", "a10b10", "vol", "vol2", "vol02", "vol10"}
	if !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}

func TestNaturalLessNetworks(t *testing.T) {
	names := []string{"net10", "net2", "Net1", "net02", "net", "a9"}
	slices.SortFunc(names, func(a, b string) int {
		if NaturalLess(a, b) {
			return -1
		}
		if NaturalLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"Net1", "a9", "net", "net2", "net02", "net10"}
	if !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}

func TestLabelTitle(t *testing.T) {
	if got := LabelTitle("com.example.my-label_x"); got != "my label x" {
		t.Errorf("LabelTitle: %q", got)
	}
}
