// Package benchd starts a berthd on a temp directory for the benchmark
// programs under hack/, and talks to it over its socket.
package benchd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Daemon is a running berthd.
type Daemon struct {
	Dir, Sock string
	Cmd       *exec.Cmd
	Client    *http.Client
}

// Start runs bin with its state under dir (root, exec, socket, pidfile, an
// empty daemon.json) plus extra flags, and returns once it answers /_ping,
// with the time that took.
func Start(bin, dir string, extra ...string) (*Daemon, time.Duration, error) {
	d := &Daemon{Dir: dir, Sock: filepath.Join(dir, "berth.sock")}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, 0, err
	}
	args := append([]string{
		"--host", "unix://" + d.Sock,
		"--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "berthd.pid"),
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--log-level", "warn",
		// The benchmarks run containers with --network none: leave the
		// host's bridges and firewall alone.
		"--bridge", "none", "--iptables=false", "--ip-forward=false",
	}, extra...)
	d.Cmd = exec.Command(bin, args...)
	d.Cmd.Stderr = os.Stderr
	begin := time.Now()
	if err := d.Cmd.Start(); err != nil {
		return nil, 0, err
	}
	d.Client = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
		},
		MaxIdleConnsPerHost: 64,
	}}
	for time.Since(begin) < 10*time.Second {
		if resp, err := d.Client.Get("http://berth/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, time.Since(begin), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	d.Stop()
	return nil, 0, fmt.Errorf("berthd did not answer /_ping within 10s")
}

// Stop sends SIGTERM and waits (SIGKILL after 15 s).
func (d *Daemon) Stop() {
	if d.Cmd == nil || d.Cmd.Process == nil {
		return
	}
	d.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		d.Cmd.Process.Kill()
		<-done
	}
	d.Client.CloseIdleConnections()
}

// Do sends a request to the API (path without the version prefix).
func (d *Daemon) Do(method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://berth/v1.44"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return d.Client.Do(req)
}

// Load loads an image archive (docker load).
func (d *Daemon) Load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	resp, err := d.Do("POST", "/images/load?quiet=1", f)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errorDetail"`)) {
		return fmt.Errorf("load: %d %s", resp.StatusCode, body)
	}
	return nil
}
