package graphtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchApplyDiff measures ApplyDiff of a WriteMixedTar layer of about size
// bytes read from a file, into a base layer ("base") and into a layer with
// a parent ("child"). Creating and removing the layers is not timed.
func BenchApplyDiff(b *testing.B, ctor Constructor, size int64) {
	tarPath := MixedTarFile(b, b.TempDir(), size)
	for _, variant := range []string{"base", "child"} {
		b.Run(variant, func(b *testing.B) {
			e := NewEnv(b, ctor)
			parent := ""
			if variant == "child" {
				parent = "parent"
				e.Layer(parent, "", Dir("etc/"), File("etc/hostname", "x"))
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				id := fmt.Sprintf("l%d", i)
				e.Create(id, parent)
				f, err := os.Open(tarPath)
				e.Must(err)
				b.StartTimer()
				_, err = e.D.ApplyDiff(id, parent, f)
				b.StopTimer()
				f.Close()
				e.Must(err)
				e.Must(e.D.Remove(id))
				b.StartTimer()
			}
		})
	}
}

// BenchTarX measures `tar -xf` of the same layer as BenchApplyDiff into a
// directory on the same disk, the yardstick for ApplyDiff.
func BenchTarX(b *testing.B, size int64) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		b.Skip("no tar binary")
	}
	dir := b.TempDir()
	tarPath := MixedTarFile(b, dir, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		dst := filepath.Join(dir, fmt.Sprintf("x%d", i))
		if err := os.Mkdir(dst, 0o755); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if out, err := exec.Command(tarBin, "-xf", tarPath, "-C", dst).CombinedOutput(); err != nil {
			b.Fatalf("tar -x: %v: %s", err, out)
		}
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// CompareWithTarX times ApplyDiff of a WriteMixedTar layer of size bytes
// (into a child layer, the usual case) against `tar -xf` of the same tar
// on the same disk, best of rounds each, logs both and fails if ApplyDiff
// takes more than maxRatio times as long. It runs only when the
// environment variable BERTH_TARX_COMPARE is set (it is slow and its
// verdict depends on the machine).
func CompareWithTarX(t *testing.T, ctor Constructor, size int64, maxRatio float64, rounds int) {
	if os.Getenv("BERTH_TARX_COMPARE") == "" {
		t.Skip("set BERTH_TARX_COMPARE=1 to compare ApplyDiff with tar -x")
	}
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar binary")
	}
	e := NewEnv(t, ctor)
	tarPath := MixedTarFile(t, e.Base, size)
	e.Layer("parent", "", Dir("etc/"), File("etc/hostname", "x"))
	tarxOnce := func(i int) time.Duration {
		dst := filepath.Join(e.Base, fmt.Sprintf("x%d", i))
		e.Must(os.Mkdir(dst, 0o755))
		start := time.Now()
		if out, err := exec.Command(tarBin, "-xf", tarPath, "-C", dst).CombinedOutput(); err != nil {
			t.Fatalf("tar -x: %v: %s", err, out)
		}
		d := time.Since(start)
		e.Must(os.RemoveAll(dst))
		return d
	}
	applyOnce := func(i int) time.Duration {
		id := fmt.Sprintf("l%d", i)
		e.Create(id, "parent")
		f, err := os.Open(tarPath)
		e.Must(err)
		start := time.Now()
		_, err = e.D.ApplyDiff(id, "parent", f)
		d := time.Since(start)
		f.Close()
		e.Must(err)
		e.Must(e.D.Remove(id))
		return d
	}
	// Interleaved, best of rounds each: both see the same disk state.
	var tarx, apply time.Duration
	for i := range rounds {
		if d := tarxOnce(i); i == 0 || d < tarx {
			tarx = d
		}
		if d := applyOnce(i); i == 0 || d < apply {
			apply = d
		}
	}
	ratio := float64(apply) / float64(tarx)
	t.Logf("%s, %d MiB layer: ApplyDiff %v, tar -x %v: %.2fx", e.D, size>>20, apply, tarx, ratio)
	if ratio > maxRatio {
		t.Errorf("ApplyDiff is %.2fx tar -x, more than %.2fx", ratio, maxRatio)
	}
}
