package distribution

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth-engine/berth/internal/testpki"
)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPullCertsDir pulls from a registry that requires a client
// certificate signed by a private CA: it works only once certs.d has the
// CA and the client pair.
func TestPullCertsDir(t *testing.T) {
	pki := testpki.New(t, net.IPv4(127, 0, 0, 1))
	serverPair, err := tls.X509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.X509KeyPair(pki.ClientCert, pki.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	r := startTestRegistry(t,
		&tls.Config{Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool},
		&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{clientPair}}}})
	img := buildImage(t, false, thisPlatform(), [][]byte{layerTar(t, "tls")}, "gzip")
	r.upload("test/tls", "1", img)

	certs := t.TempDir()
	hostDir := filepath.Join(certs, r.host)
	// Nothing is insecure: the registry's certificate is checked.
	o := PullOptions{Options: Options{TempDir: t.TempDir(), CertsDir: certs}}
	pull := func() error {
		_, err := Pull(context.Background(), newFakeStore(), r.ref("test/tls:1"), o)
		return err
	}
	if err := pull(); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("without the CA: %v", err)
	}
	writeFile(t, filepath.Join(hostDir, "ca.crt"), pki.CA)
	if err := pull(); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without the client certificate: %v", err)
	}
	writeFile(t, filepath.Join(hostDir, "client.cert"), pki.ClientCert)
	want := "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt"
	if err := pull(); err == nil || !errdefs.IsInvalidArgument(err) || err.Error() != want {
		t.Fatalf("a .cert without its .key: %v, want %q", err, want)
	}
	writeFile(t, filepath.Join(hostDir, "client.key"), pki.ClientKey)
	if err := pull(); err != nil {
		t.Fatalf("with the CA and the client pair: %v", err)
	}
	// Login goes the same way.
	if err := Login(context.Background(), r.host, o.Options); err != nil {
		t.Fatalf("login: %v", err)
	}
	// The registry named insecure is not verified, and certs.d is not read.
	o.Insecure = func(string) bool { return true }
	writeFile(t, filepath.Join(hostDir, "orphan.key"), pki.ClientKey)
	if err := pull(); err == nil || strings.Contains(err.Error(), "orphan") {
		t.Fatalf("insecure, so without client certificates: %v", err)
	}
}

func TestCertsDirRules(t *testing.T) {
	pki := testpki.New(t, net.IPv4(127, 0, 0, 1))
	dir := t.TempDir()
	host := "reg.example:5000"
	hostDir := filepath.Join(dir, host)

	conf, err := certsDirTLS(dir, host)
	if err != nil || conf.RootCAs != nil || len(conf.Certificates) != 0 {
		t.Fatalf("no directory: %+v, %v", conf, err)
	}
	writeFile(t, filepath.Join(hostDir, "a.key"), pki.ClientKey)
	if _, err := certsDirTLS(dir, host); err == nil || err.Error() != "missing client certificate a.cert for key a.key" || !errdefs.IsInvalidArgument(err) {
		t.Errorf("a .key alone: %v", err)
	}
	writeFile(t, filepath.Join(hostDir, "a.cert"), pki.ClientCert)
	writeFile(t, filepath.Join(hostDir, "ca.crt"), pki.CA)
	writeFile(t, filepath.Join(hostDir, "README"), []byte("ignored"))
	conf, err = certsDirTLS(dir, host)
	if err != nil || conf.RootCAs == nil || len(conf.Certificates) != 1 {
		t.Fatalf("CA and pair: %+v, %v", conf, err)
	}
	writeFile(t, filepath.Join(hostDir, "bad.crt"), []byte("not PEM"))
	if _, err := certsDirTLS(dir, host); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a .crt without a certificate: %v", err)
	}
	os.Remove(filepath.Join(hostDir, "bad.crt"))
	writeFile(t, filepath.Join(hostDir, "b.cert"), pki.ClientCert)
	writeFile(t, filepath.Join(hostDir, "b.key"), pki.ServerKey)
	if _, err := certsDirTLS(dir, host); err == nil || !strings.Contains(err.Error(), "invalid client certificate") {
		t.Errorf("a pair whose key does not match: %v", err)
	}
	// A host cannot lead out of the directory.
	writeFile(t, filepath.Join(filepath.Dir(dir), "x.key"), pki.ClientKey)
	t.Cleanup(func() { os.Remove(filepath.Join(filepath.Dir(dir), "x.key")) })
	if _, err := certsDirTLS(dir, ".."); err != nil {
		t.Errorf("host ..: %v", err)
	}
}
