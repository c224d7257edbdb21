// Command imgbench measures berthd's image paths against the image issue's
// targets, through the API socket: loading a 200 MiB single-layer archive
// compared with `tar -x` of the same layer on the same disk (the physical
// floor), and GET /images/json and /images/{name}/json with 500 images.
// It starts its own berthd on a temp data root. Run it with `make bench`.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/berth-engine/berth/hack/internal/benchd"
)

func main() {
	bin := flag.String("berthd", "./bundles/berthd", "berthd binary to measure")
	sizeMiB := flag.Int("size", 200, "layer size in MiB")
	driver := flag.String("storage-driver", "", "graph driver (default: berthd's choice)")
	flag.Parse()
	if err := run(*bin, *sizeMiB, *driver); err != nil {
		fmt.Fprintln(os.Stderr, "imgbench:", err)
		os.Exit(1)
	}
}

func run(bin string, sizeMiB int, driver string) error {
	// Under /var/tmp: on the disk, like the data root, not on a tmpfs.
	dir, err := os.MkdirTemp("/var/tmp", "imgbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	layerPath := filepath.Join(dir, "layer.tar")
	diffID, err := writeLayer(layerPath, int64(sizeMiB)<<20)
	if err != nil {
		return err
	}
	archive := filepath.Join(dir, "image.tar")
	if err := writeArchive(archive, layerPath, diffID, 1); err != nil {
		return err
	}

	// The floor: extracting the same layer on the same disk, synced.
	floorDir := filepath.Join(dir, "floor")
	os.Mkdir(floorDir, 0o755)
	dropCaches()
	begin := time.Now()
	if out, err := exec.Command("tar", "-x", "-f", layerPath, "-C", floorDir).CombinedOutput(); err != nil {
		return fmt.Errorf("tar -x: %v: %s", err, out)
	}
	syscall.Sync()
	floor := time.Since(begin)
	os.RemoveAll(floorDir)

	var extra []string
	if driver != "" {
		extra = []string{"--storage-driver", driver}
	}
	bd, _, err := benchd.Start(bin, dir, extra...)
	if err != nil {
		return err
	}
	d := &daemon{bd}
	defer d.Stop()

	dropCaches()
	begin = time.Now()
	if err := d.Load(archive); err != nil {
		return err
	}
	syscall.Sync()
	load := time.Since(begin)

	// 500 images sharing one small layer.
	small := filepath.Join(dir, "small.tar")
	smallDiff, err := writeLayer(small, 64<<10)
	if err != nil {
		return err
	}
	many := filepath.Join(dir, "many.tar")
	if err := writeArchive(many, small, smallDiff, 500); err != nil {
		return err
	}
	if err := d.Load(many); err != nil {
		return err
	}
	list := d.median(10, "/v1.44/images/json")
	inspect := d.median(10, "/v1.44/images/bench/img:250/json")

	fmt.Printf("berthd image benchmark (%s, %s)\n\n", bin, d.driver())
	fmt.Printf("%-46s %12s   %s\n", "measure", "berth", "target")
	fmt.Printf("%-46s %12s   %s\n", fmt.Sprintf("tar -x of a %d MiB layer + sync (floor)", sizeMiB), ms(floor), "")
	fmt.Printf("%-46s %12s   %s\n", fmt.Sprintf("docker load of the same layer + sync"), ms(load), fmt.Sprintf("<= 1.5x floor (ratio %.2f)", load.Seconds()/floor.Seconds()))
	fmt.Printf("%-46s %12s   %s\n", "GET /images/json, 501 images, median", ms(list), "< 50 ms")
	fmt.Printf("%-46s %12s   %s\n", "GET /images/{name}/json, median", ms(inspect), "< 50 ms")
	return nil
}

// dropCaches makes both measurements start from a cold page cache where the
// kernel allows it (it needs root; failure is harmless).
func dropCaches() {
	syscall.Sync()
	_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

// writeLayer writes a tar of files of mixed sizes (mostly incompressible)
// totalling about size bytes, and returns its diff ID.
func writeLayer(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	var written int64
	for dirN := 0; written < size; dirN++ {
		dir := fmt.Sprintf("d%03d/", dirN)
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1e9, 0)}); err != nil {
			return "", err
		}
		for j := 0; j < 64 && written < size; j++ {
			n := int64(1 + rng.IntN(4<<10))
			if j%16 == 0 {
				n = int64(256<<10 + rng.IntN(768<<10))
			}
			n = min(n, size-written+1)
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%sf%03d", dir, j), Typeflag: tar.TypeReg, Mode: 0o644, Size: n, ModTime: time.Unix(1e9, 0)}); err != nil {
				return "", err
			}
			off := rng.IntN(len(buf) - int(min(n, int64(len(buf)))) + 1)
			for left := n; left > 0; {
				c := min(left, int64(len(buf)-off))
				if _, err := tw.Write(buf[off : off+int(c)]); err != nil {
					return "", err
				}
				left -= c
				off = 0
			}
			written += n
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeArchive writes a `docker save` archive of n images on the layer.
func writeArchive(path, layerPath, diffID string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1e9, 0)}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	lf, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	st, _ := lf.Stat()
	if err := tw.WriteHeader(&tar.Header{Name: "layer/layer.tar", Mode: 0o644, Size: st.Size(), ModTime: time.Unix(1e9, 0)}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, lf); err != nil {
		return err
	}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var manifest []entry
	for i := 0; i < n; i++ {
		cfg, _ := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux",
			"created": time.Unix(1e9+int64(i), 0).UTC(),
			"config":  map[string]any{"Labels": map[string]string{"n": fmt.Sprint(i)}},
			"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		})
		sum := sha256.Sum256(cfg)
		name := hex.EncodeToString(sum[:]) + ".json"
		if err := add(name, cfg); err != nil {
			return err
		}
		tag := "bench/big:latest"
		if n > 1 {
			tag = fmt.Sprintf("bench/img:%d", i)
		}
		manifest = append(manifest, entry{Config: name, RepoTags: []string{tag}, Layers: []string{"layer/layer.tar"}})
	}
	m, _ := json.Marshal(manifest)
	if err := add("manifest.json", m); err != nil {
		return err
	}
	return tw.Close()
}

// daemon adds image calls to the benchmark berthd.
type daemon struct{ *benchd.Daemon }

func (d *daemon) median(n int, path string) time.Duration {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		begin := time.Now()
		resp, err := d.Client.Get("http://berth" + path)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ds = append(ds, time.Since(begin))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func (d *daemon) driver() string {
	resp, err := d.Client.Get("http://berth/v1.44/info")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	var info struct{ Driver string }
	json.NewDecoder(resp.Body).Decode(&info)
	return info.Driver
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
