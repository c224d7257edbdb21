// Command pullbench measures `docker pull` of a large single-layer image
// from a local registry against the floor the project's issue sets: pull
// within 2x the time `tar -x` of the same layer takes on the same disk.
//
// It builds a layer of about -size MiB (files of mixed random and repetitive
// data, about half compressible, from 1 KiB to 8 MiB), imports it into a
// berthd of its own (POST /images/create?fromSrc=-), pushes it to a
// docker-registry it runs on 127.0.0.1 (timed too), then -runs times removes
// the image and pulls it back (POST /images/create?fromImage=), and extracts
// the layer tar with `tar -x` into a fresh directory on the data root's
// filesystem. Everything lives in a temporary directory removed afterwards.
// Nothing leaves the machine: the registry listens on loopback only.
//
// The floor moves with the state of the filesystem, and so does the ratio.
// On this project's machines the data root is an ext4 without a journal,
// which does not reuse an inode freed in the last minute (five, while its
// inode table block is dirty) and walks past each such inode on every
// create: after the deletions of earlier runs, or of another benchmark,
// tar -x took 0.2 to 0.7 s, and a pull paid up to 18% of its CPU there.
// Keeping what the runs create instead of deleting it does not help: this
// VM pays on first touch for memory the page cache has not used yet. On a
// freshly made ext4 (with a journal, as mkfs.ext4 makes it, loop-mounted
// and given as -dir) tar -x takes a steady 0.17 s. The last lines print the
// work no gzip pull can skip (inflate, extraction, both digests, the
// registry), each timed alone, and that work spread over the cores: the
// fastest a pull could be here.
//
// Each pull prints when each progress status first appeared and the CPU
// time berthd (with igzip, its child) and the registry used: the cores are
// shared, so wall-clock time is at best the sum over their number. berthd
// inherits the environment: BERTH_DISABLE_IGZIP=1 times a pull that
// inflates in process where igzip is installed. -perf records one more
// pull of the gzip image with `perf record -g` of berthd and its children.
//
//	go run ./hack/pullbench -berthd bundles/berthd
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func main() {
	berthd := flag.String("berthd", "bundles/berthd", "berthd binary")
	registry := flag.String("registry", "/usr/bin/docker-registry", "docker-registry binary (Debian's docker-registry package)")
	sizeMiB := flag.Int("size", 200, "layer size in MiB")
	runs := flag.Int("runs", 3, "pulls (and tar -x runs) to time; the median is reported")
	driver := flag.String("storage-driver", "", "berthd storage driver (default: its own choice)")
	dirFlag := flag.String("dir", "", "work directory (default: a temporary one under /var/tmp)")
	perfOut := flag.String("perf", "", "after the timed runs, pull the gzip image once more under `perf record -g` of berthd, writing this file (build berthd without -s -w for symbols)")
	content := flag.String("content", "usr", "layer content: usr (this machine's files under /usr: binaries, libraries, text) or mixed (synthetic: half random, half repetitive 4 KiB blocks, the worst case for inflate)")
	flag.Parse()
	if err := run(*berthd, *registry, *sizeMiB, *runs, *driver, *dirFlag, *content, *perfOut); err != nil {
		fmt.Fprintln(os.Stderr, "pullbench:", err)
		os.Exit(1)
	}
}

func run(berthdBin, registryBin string, sizeMiB, runs int, driver, dir, content, perfOut string) error {
	for _, b := range []string{berthdBin, registryBin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
	}
	if _, err := exec.LookPath("tar"); err != nil {
		return err
	}
	if dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "pullbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}

	// The layer.
	layerPath := filepath.Join(dir, "layer.tar")
	begin := time.Now()
	var n int64
	var files int
	var err error
	switch content {
	case "usr":
		n, files, err = writeUsrLayer(layerPath, int64(sizeMiB)<<20)
	case "mixed":
		n, files, err = writeLayer(layerPath, int64(sizeMiB)<<20)
	default:
		err = fmt.Errorf("unknown -content %q", content)
	}
	if err != nil {
		return err
	}
	fmt.Printf("layer (%s): %s, %d files, %.1f MiB (built in %s)\n", content, layerPath, files, float64(n)/(1<<20), time.Since(begin).Round(time.Millisecond))

	// The registry, on loopback.
	host, registryPid, stopRegistry, err := startRegistry(registryBin, filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	defer stopRegistry()

	// berthd.
	d := &daemon{bin: berthdBin, dir: filepath.Join(dir, "berthd")}
	if err := d.start(driver); err != nil {
		return err
	}
	defer d.stop()

	ref := host + "/bench/big"
	f, err := os.Open(layerPath)
	if err != nil {
		return err
	}
	begin = time.Now()
	body, status, err := d.post("/images/create?fromSrc=-&repo="+url.QueryEscape(ref)+"&tag=1", f, "")
	f.Close()
	if err != nil || status != 200 || streamErr(body) != "" {
		return fmt.Errorf("import: %d %v %s", status, err, streamErr(body))
	}
	fmt.Printf("import into berthd: %s\n", time.Since(begin).Round(time.Millisecond))
	id, err := d.imageID(ref + ":1")
	if err != nil {
		return err
	}

	auth := base64.URLEncoding.EncodeToString([]byte("{}"))
	begin = time.Now()
	body, status, err = d.post("/images/"+ref+"/push?tag=1", nil, auth)
	if err != nil || status != 200 || streamErr(body) != "" {
		return fmt.Errorf("push: %d %v %s", status, err, streamErr(body))
	}
	push := time.Since(begin)
	fmt.Printf("push (gzip compression and upload): %s\n", push.Round(time.Millisecond))
	blobSize, err := registryBytes(filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	fmt.Printf("registry holds %.1f MiB (the gzip layer and the config)\n", float64(blobSize)/(1<<20))

	// The same layer zstd-compressed, in an OCI image put into the registry
	// directly (berthd pushes gzip): a pull then is not bound by inflate.
	zstdRef, zstdID, err := uploadZstdVariant(host, "bench/big", layerPath, dir)
	if err != nil {
		return err
	}

	dataRoot := filepath.Join(d.dir, "root")
	// Both images share their layer: each pull starts with neither.
	var registryCPU []time.Duration // of the gzip pulls
	timePull := func(ref, tag string, i int) (time.Duration, error) {
		for _, id := range []string{id, zstdID} {
			if _, status, err := d.do(http.MethodDelete, "/images/"+id+"?force=1", nil, ""); err != nil || (status != 200 && status != 404) {
				return 0, fmt.Errorf("rmi: %d %v", status, err)
			}
		}
		// berthd deletes a removed layer's files in the background (its
		// storage driver's trash): let it finish, as an rmi that deleted
		// them itself would have, so that the pull is timed alone.
		if err := waitTrashEmpty(dataRoot, 30*time.Second); err != nil {
			return 0, err
		}
		dropCaches()
		cpu0, rcpu0 := procCPU(d.cmd.Process.Pid), procCPU(registryPid)
		begin := time.Now()
		body, phases, err := d.pullTimed("/images/create?fromImage=" + url.QueryEscape(ref) + "&tag=" + tag)
		if err != nil || streamErr(body) != "" {
			return 0, fmt.Errorf("pull: %v %s", err, streamErr(body))
		}
		took := time.Since(begin)
		if !bytes.Contains(body, []byte("Pull complete")) {
			return 0, fmt.Errorf("pull %d did not download: %s", i, body)
		}
		rcpu := procCPU(registryPid) - rcpu0
		if tag == "1" {
			registryCPU = append(registryCPU, rcpu)
		}
		fmt.Printf("  pull %s:%s #%d: %s; CPU: berthd %s, registry %s\n", ref, tag, i+1, phases,
			(procCPU(d.cmd.Process.Pid) - cpu0).Round(time.Millisecond), rcpu.Round(time.Millisecond))
		return took, nil
	}
	var tarCPU []time.Duration
	timeTar := func(i int, sync bool) (time.Duration, error) {
		target := filepath.Join(dataRoot, fmt.Sprintf("tar-x-%d", i))
		os.MkdirAll(target, 0o755)
		defer os.RemoveAll(target)
		dropCaches()
		if sync {
			took, _, err := timeCmd("sh", "-c", "tar -x -f "+layerPath+" -C "+target+" && sync")
			return took, err
		}
		took, cpu, err := timeCmd("tar", "-x", "-f", layerPath, "-C", target)
		tarCPU = append(tarCPU, cpu)
		return took, err
	}
	var pulls, pullsZstd, extracts, extractsSync []time.Duration
	for i := range runs {
		t, err := timePull(ref, "1", i)
		if err != nil {
			return err
		}
		pulls = append(pulls, t)
		if t, err = timePull(zstdRef, "zstd", i); err != nil {
			return err
		}
		pullsZstd = append(pullsZstd, t)
		if t, err = timeTar(i, false); err != nil {
			return err
		}
		extracts = append(extracts, t)
		if t, err = timeTar(i, true); err != nil {
			return err
		}
		extractsSync = append(extractsSync, t)
	}
	if perfOut != "" {
		if err := perfPull(perfOut, d.cmd.Process.Pid, func() error { _, err := timePull(ref, "1", runs); return err }); err != nil {
			return err
		}
	}
	// The floor a gzip layer sets: inflating it on one core.
	inflate, igzip, blob, err := inflateTime(filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	digests, err := digestTime(blob, layerPath)
	if err != nil {
		return err
	}

	me := median(extracts)
	ratio := func(d time.Duration) string { return fmt.Sprintf("%.2fx tar -x", float64(d)/float64(me)) }
	fmt.Printf("tar -x:               %v median %s (CPU: median %s)\n", rounded(extracts), me.Round(time.Millisecond), median(tarCPU).Round(time.Millisecond))
	fmt.Printf("tar -x && sync:       %v median %s (%s)\n", rounded(extractsSync), median(extractsSync).Round(time.Millisecond), ratio(median(extractsSync)))
	fmt.Printf("inflate of the gzip blob alone (klauspost, one core): %s (%s)\n", inflate.Round(time.Millisecond), ratio(inflate))
	if igzip > 0 {
		fmt.Printf("inflate of the gzip blob alone (igzip, one core):     %s (%s)\n", igzip.Round(time.Millisecond), ratio(igzip))
	}
	fmt.Printf("pull, gzip layer:     %v median %s (%s, %.0f MiB/s)\n", rounded(pulls), median(pulls).Round(time.Millisecond), ratio(median(pulls)), float64(n)/(1<<20)/median(pulls).Seconds())
	fmt.Printf("pull, zstd layer:     %v median %s (%s, %.0f MiB/s)\n", rounded(pullsZstd), median(pullsZstd).Round(time.Millisecond), ratio(median(pullsZstd)), float64(n)/(1<<20)/median(pullsZstd).Seconds())
	// What no gzip pull can skip, each part timed alone on one core:
	// inflate, extraction (tar -x's CPU), the two digests (of the blob, and
	// of the layer: its diff ID), and the registry sending the blob. Spread
	// perfectly over the cores, that is the fastest a pull could be here.
	if igzip > 0 {
		work := igzip + median(tarCPU) + digests + median(registryCPU)
		bound := work / time.Duration(runtime.NumCPU())
		fmt.Printf("work a gzip pull cannot skip, on one core: %s (igzip %s + extraction %s + SHA-256 of blob and layer %s + registry %s)\n",
			work.Round(time.Millisecond), igzip.Round(time.Millisecond), median(tarCPU).Round(time.Millisecond), digests.Round(time.Millisecond), median(registryCPU).Round(time.Millisecond))
		fmt.Printf("  spread over %d cores: %s (%s); the gzip pull is %.2fx that\n", runtime.NumCPU(), bound.Round(time.Millisecond), ratio(bound), float64(median(pulls))/float64(bound))
	}
	verdict := "within"
	if float64(median(pulls)) > 2*float64(me) {
		verdict = "NOT within"
	}
	fmt.Printf("target (pull within 2x tar -x): gzip pull %s it\n", verdict)
	return nil
}

// uploadZstdVariant puts the layer zstd-compressed into the registry as
// repo:zstd, an OCI image, and returns its reference and image ID.
func uploadZstdVariant(host, repo, layerPath, dir string) (string, string, error) {
	zPath := filepath.Join(dir, "layer.tar.zst")
	in, err := os.Open(layerPath)
	if err != nil {
		return "", "", err
	}
	defer in.Close()
	out, err := os.Create(zPath)
	if err != nil {
		return "", "", err
	}
	defer out.Close()
	diff := sha256.New()
	blob := sha256.New()
	zw, err := zstd.NewWriter(io.MultiWriter(out, blob))
	if err != nil {
		return "", "", err
	}
	if _, err := io.Copy(io.MultiWriter(zw, diff), in); err != nil {
		return "", "", err
	}
	if err := zw.Close(); err != nil {
		return "", "", err
	}
	fi, err := out.Stat()
	if err != nil {
		return "", "", err
	}
	diffID := fmt.Sprintf("sha256:%x", diff.Sum(nil))
	blobDigest := fmt.Sprintf("sha256:%x", blob.Sum(nil))
	config, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	configDigest := fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	base := "http://" + host + "/v2/" + repo
	upload := func(d string, body io.Reader, size int64) error {
		resp, err := http.Post(base+"/blobs/uploads/", "", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("starting upload: %s %v", resp.Status, err)
		}
		q := u.Query()
		q.Set("digest", d)
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, u.String(), body)
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("uploading %s: %s", d, resp.Status)
		}
		return nil
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", "", err
	}
	if err := upload(blobDigest, out, fi.Size()); err != nil {
		return "", "", err
	}
	if err := upload(configDigest, bytes.NewReader(config), int64(len(config))); err != nil {
		return "", "", err
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": blobDigest, "size": fi.Size()}},
	})
	req, _ := http.NewRequest(http.MethodPut, base+"/manifests/zstd", bytes.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("putting the zstd manifest: %s", resp.Status)
	}
	fmt.Printf("zstd variant: %.1f MiB blob\n", float64(fi.Size())/(1<<20))
	return host + "/" + repo, configDigest, nil
}

// inflateTime decompresses the largest blob of the registry (the gzip
// layer) once, timed: in process with klauspost/compress, and with igzip
// when it is on PATH (0 if not).
func inflateTime(dir string) (time.Duration, time.Duration, string, error) {
	var biggest string
	var size int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Name() == "data" && fi.Size() > size {
			f, ferr := os.Open(p)
			if ferr != nil {
				return nil
			}
			magic := make([]byte, 2)
			io.ReadFull(f, magic)
			f.Close()
			if magic[0] == 0x1f && magic[1] == 0x8b {
				biggest, size = p, fi.Size()
			}
		}
		return nil
	})
	if biggest == "" {
		return 0, 0, "", errors.New("no gzip blob in the registry")
	}
	f, err := os.Open(biggest)
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	begin := time.Now()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, 0, "", err
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return 0, 0, "", err
	}
	inflate := time.Since(begin)
	if _, err := exec.LookPath("igzip"); err != nil {
		return inflate, 0, biggest, nil
	}
	igzip, _, err := timeCmd("sh", "-c", "igzip -d -c < "+biggest+" > /dev/null")
	return inflate, igzip, biggest, err
}

// digestTime is how long SHA-256 (Go's, as berthd's) of the files takes on
// one core, reading them from the page cache.
func digestTime(paths ...string) (time.Duration, error) {
	begin := time.Now()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, err
		}
		_, err = io.CopyBuffer(sha256.New(), f, make([]byte, 1<<20))
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	return time.Since(begin), nil
}

// perfPull runs pull while `perf record -g` samples process pid and the
// processes it starts.
func perfPull(out string, pid int, pull func() error) error {
	_ = os.Remove(out)
	perf := exec.Command("perf", "record", "-F", "1999", "-g", "--inherit", "-o", out, "-p", fmt.Sprint(pid))
	perf.Stdout, perf.Stderr = os.Stderr, os.Stderr
	if err := perf.Start(); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // perf attaches
	err := pull()
	_ = perf.Process.Signal(os.Interrupt)
	_ = perf.Wait() // it exits on the interrupt; the file tells whether it worked
	if _, serr := os.Stat(out); err == nil && serr != nil {
		err = fmt.Errorf("perf wrote nothing: %w", serr)
	}
	return err
}

func rounded(ds []time.Duration) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Round(time.Millisecond).String())
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// waitTrashEmpty waits until the storage driver's trash under dataRoot
// (overlay2/trash or vfs/trash) holds nothing.
func waitTrashEmpty(dataRoot string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(10 * time.Millisecond) {
		busy := false
		for _, d := range []string{"overlay2", "vfs"} {
			if ents, err := os.ReadDir(filepath.Join(dataRoot, d, "trash")); err == nil && len(ents) > 0 {
				busy = true
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("berthd's trash under %s not emptied within %s", dataRoot, timeout)
		}
	}
}

// dropCaches writes dirty pages back so that one run's writes are not paid
// by the next; the page cache itself is kept (both sides read warm input).
func dropCaches() { syscall.Sync() }

// timeCmd runs a command and returns its wall-clock and CPU time.
func timeCmd(name string, args ...string) (time.Duration, time.Duration, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	begin := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, err
	}
	return time.Since(begin), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// procCPU is the user and system CPU time process pid and its waited-for
// children have used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses: utime,
	// stime, cutime and cstime are the 14th to 17th of the line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	var total int64
	for _, v := range f[11:15] {
		var t int64
		fmt.Sscan(v, &t)
		total += t
	}
	return time.Duration(total) * time.Second / 100 // USER_HZ
}

// writeLayer writes a tar of files of mixed content totalling about size
// bytes: each 4 KiB block is either random or a repeated line, half and
// half, so that gzip halves it, roughly like real binaries and data.
func writeLayer(path string, size int64) (int64, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	rng := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, 4096)
	line := bytes.Repeat([]byte("berth pullbench: the quick brown fox jumps over the lazy dog\n"), 4096/61+1)[:4096]
	var written int64
	files := 0
	for dirN := 0; written < size; dirN++ {
		dirName := fmt.Sprintf("usr/share/bench/d%03d/", dirN)
		if err := tw.WriteHeader(&tar.Header{Name: dirName, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(1700000000, 0)}); err != nil {
			return 0, 0, err
		}
		for i := 0; i < 64 && written < size; i++ {
			// Nine files in ten of 1 to 64 KiB, the others of 256 KiB to
			// 8 MiB: about a thousand files.
			fsize := int64(1024) << rng.IntN(7)
			if rng.IntN(10) == 0 {
				fsize = int64(256<<10) << rng.IntN(6)
			}
			fsize = min(fsize, size-written)
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%sf%04d.bin", dirName, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: fsize, ModTime: time.Unix(1700000000, 0)}); err != nil {
				return 0, 0, err
			}
			for left := fsize; left > 0; {
				n := min(left, int64(len(block)))
				if rng.IntN(2) == 0 {
					for j := 0; j < len(block); j += 8 {
						v := rng.Uint64()
						for k := 0; k < 8; k++ {
							block[j+k] = byte(v >> (8 * k))
						}
					}
					if _, err := tw.Write(block[:n]); err != nil {
						return 0, 0, err
					}
				} else if _, err := tw.Write(line[:n]); err != nil {
					return 0, 0, err
				}
				left -= n
			}
			written += fsize
			files++
		}
	}
	if err := tw.Close(); err != nil {
		return 0, 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), files, f.Sync()
}

// writeUsrLayer writes a tar of this machine's regular files under /usr,
// in walk order, until about size bytes: real executables, libraries and
// text, compressible as image layers usually are.
func writeUsrLayer(path string, size int64) (int64, int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	var written int64
	files := 0
	errDone := errors.New("done")
	for _, root := range []string{"/usr/bin", "/usr/lib", "/usr/share"} {
		err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if written >= size {
				return errDone
			}
			if !fi.Mode().IsRegular() && !fi.IsDir() {
				return nil
			}
			if fi.Mode().IsRegular() && fi.Size() > size-written {
				return nil
			}
			hdr, err := tar.FileInfoHeader(fi, "")
			if err != nil {
				return nil
			}
			hdr.Name = strings.TrimPrefix(p, "/")
			hdr.Uname, hdr.Gname = "", ""
			if fi.IsDir() {
				hdr.Name += "/"
				return tw.WriteHeader(hdr)
			}
			src, err := os.Open(p)
			if err != nil {
				return nil
			}
			defer src.Close()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			n, err := io.Copy(tw, src)
			if err != nil || n != fi.Size() {
				return fmt.Errorf("%s changed while read: %v", p, err)
			}
			written += n
			files++
			return nil
		})
		if err != nil && err != errDone {
			return 0, 0, err
		}
	}
	if err := tw.Close(); err != nil {
		return 0, 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), files, f.Sync()
}

// startRegistry starts docker-registry on loopback, storing in dir; it
// returns its address and pid.
func startRegistry(bin, dir string) (string, int, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := c.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host, cmd.Process.Pid, stop, nil
		}
	}
	stop()
	return "", 0, nil, errors.New("docker-registry did not start")
}

func registryBytes(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Name() == "data" {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

type daemon struct {
	bin, dir, sock string
	cmd            *exec.Cmd
	client         *http.Client
}

func (d *daemon) start(driver string) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	d.sock = filepath.Join(d.dir, "berth.sock")
	if err := os.WriteFile(filepath.Join(d.dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return err
	}
	args := []string{
		"--host", "unix://" + d.sock,
		"--data-root", filepath.Join(d.dir, "root"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "berthd.pid"),
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		"--log-level", "warn",
		"--bridge", "none", "--iptables=false", "--ip-forward=false",
	}
	if driver != "" {
		args = append(args, "--storage-driver", driver)
	}
	d.cmd = exec.Command(d.bin, args...)
	d.cmd.Stderr = os.Stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	d.client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		},
	}}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, status, err := d.do(http.MethodGet, "/_ping", nil, ""); err == nil && status == 200 {
			return nil
		}
	}
	d.stop()
	return errors.New("berthd did not answer /_ping within 30s")
}

func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (d *daemon) do(method, path string, body io.Reader, auth string) ([]byte, int, error) {
	req, err := http.NewRequest(method, "http://berth/v1.44"+path, body)
	if err != nil {
		return nil, 0, err
	}
	if auth != "" {
		req.Header.Set("X-Registry-Auth", auth)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

func (d *daemon) post(path string, body io.Reader, auth string) ([]byte, int, error) {
	return d.do(http.MethodPost, path, body, auth)
}

// pullTimed pulls, noting when each status first appears.
func (d *daemon) pullTimed(path string) ([]byte, string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://berth/v1.44"+path, nil)
	if err != nil {
		return nil, "", err
	}
	begin := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return b, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	var all bytes.Buffer
	var phases []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		all.Write(sc.Bytes())
		all.WriteByte('\n')
		var m struct{ Status string }
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Status != "" && !seen[m.Status] && !strings.HasPrefix(m.Status, "Digest") && !strings.HasPrefix(m.Status, "Status") {
			seen[m.Status] = true
			phases = append(phases, fmt.Sprintf("%s@%dms", m.Status, time.Since(begin).Milliseconds()))
		}
	}
	phases = append(phases, fmt.Sprintf("end@%dms", time.Since(begin).Milliseconds()))
	return all.Bytes(), strings.Join(phases, ", "), sc.Err()
}

func (d *daemon) imageID(ref string) (string, error) {
	b, status, err := d.do(http.MethodGet, "/images/"+ref+"/json", nil, "")
	if err != nil || status != 200 {
		return "", fmt.Errorf("inspect %s: %d %v %s", ref, status, err, b)
	}
	var img struct{ ID string }
	if err := json.Unmarshal(b, &img); err != nil {
		return "", err
	}
	return img.ID, nil
}

// streamErr is the error of a JSON message stream, if any.
func streamErr(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			return ""
		}
		if m.Error != "" {
			return strings.TrimSpace(m.Error)
		}
	}
}
