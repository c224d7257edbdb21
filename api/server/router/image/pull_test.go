package image

import (
	"encoding/base64"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
)

func TestDecodeAuth(t *testing.T) {
	const js = `{"username":"alice","password":"s3cret>?","serveraddress":"127.0.0.1:5000","identitytoken":"","registrytoken":""}`
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		a, err := decodeAuth(" " + enc.EncodeToString([]byte(js)) + "\n")
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		if a.Username != "alice" || a.Password != "s3cret>?" || a.ServerAddress != "127.0.0.1:5000" {
			t.Fatalf("decoded %+v", a)
		}
	}
	if a, err := decodeAuth(""); a != nil || err != nil {
		t.Fatalf("empty header: %+v %v", a, err)
	}
	if a, err := decodeAuth(base64.URLEncoding.EncodeToString([]byte("{}"))); err != nil || a == nil || a.Username != "" {
		t.Fatalf("{}: %+v %v", a, err)
	}
	for _, bad := range []string{"!!!not base64", base64.StdEncoding.EncodeToString([]byte("not json"))} {
		if _, err := decodeAuth(bad); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPullReference(t *testing.T) {
	const dg = "sha256:7dcaac286bf2a2ff28aa37e27b9b708a339c741bb6c6d638c3fd697698aec806"
	for _, tt := range []struct {
		image, tag, want string
		all              bool
	}{
		{"busybox", "latest", "docker.io/library/busybox:latest", false},
		{"busybox", "", "docker.io/library/busybox", true},
		{"busybox:1.36", "", "docker.io/library/busybox:1.36", false},
		{"busybox:1.36", "1.37", "docker.io/library/busybox:1.37", false},
		{"127.0.0.1:5000/test/img", "1", "127.0.0.1:5000/test/img:1", false},
		{"127.0.0.1:5000/test/img", dg, "127.0.0.1:5000/test/img@" + dg, false},
		{"127.0.0.1:5000/test/img@" + dg, "", "127.0.0.1:5000/test/img@" + dg, false},
	} {
		got, all, err := pullReference(tt.image, tt.tag)
		if err != nil || got != tt.want || all != tt.all {
			t.Errorf("pullReference(%q, %q) = %q, %v, %v; want %q, %v", tt.image, tt.tag, got, all, err, tt.want, tt.all)
		}
	}
	for _, bad := range [][2]string{{"Busybox", ""}, {"busybox", "bad tag!"}, {"", "1"}} {
		if _, _, err := pullReference(bad[0], bad[1]); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("pullReference(%q, %q): %v", bad[0], bad[1], err)
		}
	}
}
