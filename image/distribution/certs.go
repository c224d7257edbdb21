package distribution

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// certsDirTLS is the TLS configuration for a secure registry host: the
// system's roots plus the *.crt files of dir/<host>, and the client
// certificates of its *.cert + *.key pairs. It reads the directory at every
// call, as Docker does, so that a certificate dropped in applies to the
// next pull. Docker's rules hold: a .cert without its .key (or a .key
// without its .cert) is an error, and a missing directory is no extra
// material.
func certsDirTLS(dir, host string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if dir == "" || host == "" {
		return conf, nil
	}
	// Clean as a rooted path, so that a host cannot name a directory
	// outside dir.
	hostDir := filepath.Join(dir, filepath.Join(string(filepath.Separator), host))
	entries, err := os.ReadDir(hostDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return conf, nil
	case errors.Is(err, os.ErrPermission):
		return nil, errorf(errdefs.ErrInvalidArgument, "reading certificates for %s: %v", host, err)
	case err != nil:
		return nil, fmt.Errorf("reading certificates for %s: %w", host, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, e := range entries {
		path := filepath.Join(hostDir, e.Name())
		ext := filepath.Ext(e.Name())
		base := strings.TrimSuffix(e.Name(), ext)
		switch ext {
		case ".crt":
			if conf.RootCAs == nil {
				if conf.RootCAs, err = x509.SystemCertPool(); err != nil {
					conf.RootCAs = x509.NewCertPool()
				}
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("reading CA certificate: %w", err)
			}
			if !conf.RootCAs.AppendCertsFromPEM(pem) {
				return nil, invalidf("invalid CA certificate %s: no PEM certificate in it", path)
			}
		case ".cert":
			if !slices.Contains(names, base+".key") {
				return nil, invalidf("missing key %s for client certificate %s. CA certificates must use the extension .crt", base+".key", e.Name())
			}
			pair, err := tls.LoadX509KeyPair(path, filepath.Join(hostDir, base+".key"))
			if err != nil {
				return nil, invalidf("invalid client certificate %s: %v", path, err)
			}
			conf.Certificates = append(conf.Certificates, pair)
		case ".key":
			if !slices.Contains(names, base+".cert") {
				return nil, invalidf("missing client certificate %s for key %s", base+".cert", e.Name())
			}
		}
	}
	return conf, nil
}
