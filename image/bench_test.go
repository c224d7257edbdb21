package image

import (
	"fmt"
	"testing"
	"time"
)

// fill creates n images on one small layer.
func fill(b *testing.B, n int) *Store {
	ls, is := newHarness(b).open(b)
	refs, diffIDs := registerChain(b, ls, "one")
	for i := range n {
		if _, err := is.Create(mkConfig(b, diffIDs, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	releaseAll(b, ls, refs)
	return is
}

// BenchmarkList500 is `docker images` over 500 images, as far as the store
// goes: a snapshot of every image, sorted.
func BenchmarkList500(b *testing.B) {
	is := fill(b, 500)
	b.ResetTimer()
	for b.Loop() {
		if n := len(is.List()); n != 500 {
			b.Fatal(n)
		}
	}
}

// BenchmarkGet500 gets every one of 500 images.
func BenchmarkGet500(b *testing.B) {
	is := fill(b, 500)
	ids := is.List()
	b.ResetTimer()
	for b.Loop() {
		for _, img := range ids {
			if _, err := is.Get(img.ID); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSearchPrefix resolves a 12-digit short ID among 500 images.
func BenchmarkSearchPrefix(b *testing.B) {
	is := fill(b, 500)
	short := is.List()[250].ID.Digest().Encoded()[:12]
	b.ResetTimer()
	for b.Loop() {
		if _, err := is.Search(short); err != nil {
			b.Fatal(err)
		}
	}
}

// TestList500Fast guards the budget: listing 500 images well under
// 50 ms (the API's conversion comes on top).
func TestList500Fast(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res := testing.Benchmark(BenchmarkList500)
	if per := time.Duration(res.NsPerOp()); per > 25*time.Millisecond {
		t.Errorf("List of 500 images takes %v", per)
	}
}
