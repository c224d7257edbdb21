package daemon

import (
	"testing"

	cerrdefs "github.com/containerd/errdefs"
)

func TestLoginHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                            "docker.io",
		"https://index.docker.io/v1/": "docker.io",
		"docker.io":                   "docker.io",
		"registry-1.docker.io":        "docker.io",
		"127.0.0.1:5000":              "127.0.0.1:5000",
		"http://127.0.0.1:5000/v2/":   "127.0.0.1:5000",
		"https://reg.example":         "reg.example",
		"[::1]:5000":                  "[::1]:5000",
	} {
		if got, err := loginHost(in); err != nil || got != want {
			t.Errorf("loginHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"https://", "http://[::1", "reg:port:x/%zz"} {
		if got, err := loginHost(bad); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("loginHost(%q) = %q, %v; want an invalid argument", bad, got, err)
		}
	}
}
