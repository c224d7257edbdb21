package integration

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-engine/berth/internal/testpki"
)

// nsRegistryIP is an address berthd's own network namespace gets (see
// startNetnsDaemon): not loopback, so a registry there is not insecure
// unless the configuration says so.
const nsRegistryIP = "10.99.0.1"

// startNetnsDaemon starts a berthd in a network namespace of its own,
// without a default bridge, where nsRegistryIP is an address of lo;
// registries started with its pid (registryOpts.netnsPid) listen there.
// The namespace goes with its processes.
func startNetnsDaemon(t *testing.T, config map[string]any) *daemon {
	t.Helper()
	d := startDaemon(t, daemonOpts{network: true, config: config, args: []string{"--bridge", "none", "--iptables=false", "--ip-forward=false"}})
	if out, err := exec.Command("nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", d.pid()), "ip", "addr", "add", nsRegistryIP+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("adding %s to berthd's namespace: %v: %s", nsRegistryIP, err, out)
	}
	return d
}

// pid is the running berthd's process ID.
func (d *daemon) pid() int {
	d.t.Helper()
	cmd, _ := d.running()
	if cmd == nil {
		d.t.Fatal("berthd is not running")
	}
	return cmd.Process.Pid
}

// testPKI is a CA and PEM files it signed: a server certificate for
// serverIP and a client certificate.
type testPKI struct {
	caCert                string
	serverCert, serverKey string
	clientCert, clientKey string
}

func newTestPKI(t *testing.T, serverIP string) *testPKI {
	t.Helper()
	pki := testpki.New(t, net.ParseIP(serverIP))
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return &testPKI{
		caCert:     write("ca.crt", pki.CA),
		serverCert: write("server.cert", pki.ServerCert), serverKey: write("server.key", pki.ServerKey),
		clientCert: write("client.cert", pki.ClientCert), clientKey: write("client.key", pki.ClientKey),
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// opError is the error of a pull or push answer: before the stream began
// or in it ("" if none).
func opError(r *response) string {
	if r.status != 200 {
		return r.message()
	}
	return streamError(r.body)
}

// TestRegistryCertsDir pushes to and pulls from a registry that is not
// insecure, whose certificate a private CA signed and which requires a
// client certificate: it works only once registry-certs-dir holds, for
// its host:port, the CA (.crt) and the client pair (.cert and .key).
func TestRegistryCertsDir(t *testing.T) {
	t.Parallel()
	certsDir := t.TempDir()
	d := startNetnsDaemon(t, map[string]any{"registry-certs-dir": certsDir})
	pki := newTestPKI(t, nsRegistryIP)
	host := startRegistryWith(t, registryOpts{
		netnsPid: d.pid(),
		addr:     nsRegistryIP + ":5443",
		tls:      &registryTLS{cert: pki.serverCert, key: pki.serverKey, clientCA: pki.caCert},
	})
	hostDir := filepath.Join(certsDir, host)
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	repo := host + "/certs/busybox"
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo="+url.QueryEscape(repo)+"&tag=1", nil), 201, "tag")
	push := func() string { return opError(d.withAuth("POST", "/v1.44/images/"+repo+"/push?tag=1", "")) }

	if msg := push(); !strings.Contains(msg, "certificate signed by unknown authority") {
		t.Fatalf("push without the CA: %q", msg)
	}
	copyFile(t, pki.caCert, filepath.Join(hostDir, "ca.crt"))
	if msg := push(); !strings.Contains(msg, "certificate required") && !strings.Contains(msg, "bad certificate") {
		t.Fatalf("push without a client certificate: %q", msg)
	}
	copyFile(t, pki.clientCert, filepath.Join(hostDir, "client.cert"))
	want := "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt"
	if r := d.withAuth("POST", "/v1.44/images/create?fromImage="+url.QueryEscape(repo)+"&tag=1", ""); r.status != 400 || r.message() != want {
		t.Fatalf("pull with a .cert but no .key: %s, want 400 %q", r, want)
	}
	copyFile(t, pki.clientKey, filepath.Join(hostDir, "client.key"))
	d.push(t, repo, "1", "")

	// The docker CLI pulls it back through berthd.
	docker := newDockerCLI(t, d)
	docker.ok("rmi", "-f", busyboxID)
	out := docker.ok("pull", repo+":1")
	if !strings.Contains(out, "Status: Downloaded newer image for "+repo+":1") {
		t.Errorf("docker pull:\n%s", out)
	}
	if id := d.inspectImage(t, repo+":1").ID; id != busyboxID {
		t.Errorf("pulled %s, want %s", id, busyboxID)
	}
	// Login goes through the same TLS setup.
	if out := docker.ok("login", host, "-u", "anyone", "-p", "x"); !strings.Contains(out, "Login Succeeded") {
		t.Errorf("docker login:\n%s", out)
	}

	// Without the CA again, the pull fails as it first did.
	if err := os.Remove(filepath.Join(hostDir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	r := docker.run("pull", repo+":1")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "certificate signed by unknown authority") {
		t.Errorf("docker pull without the CA: %s", r)
	}
}
