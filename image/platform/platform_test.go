package platform

import (
	"runtime"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":    "linux/amd64",
		"Linux/x86_64":   "linux/amd64",
		"linux/aarch64":  "linux/arm64",
		"linux/arm64/v8": "linux/arm64",
		"linux/armhf":    "linux/arm/v7",
		"linux/arm/7":    "linux/arm/v7",
		"linux":          "linux/" + runtime.GOARCH,
	} {
		p, err := Parse(in)
		if err != nil || String(p) != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, String(p), err, want)
		}
	}
	for _, bad := range []string{"linux//v7", "a/b/c/d", "/amd64"} {
		if _, err := Parse(bad); !cerrdefs.IsInvalidArgument(err) {
			t.Errorf("Parse(%q): err = %v", bad, err)
		}
	}
}

func TestScore(t *testing.T) {
	arm := func(v string) ocispec.Platform { return ocispec.Platform{OS: "linux", Architecture: "arm", Variant: v} }
	if Score(arm("v7"), arm("v7")) <= Score(arm("v7"), arm("v6")) || Score(arm("v7"), arm("v6")) == 0 {
		t.Error("v7 should prefer v7 and accept v6")
	}
	if Score(arm("v6"), arm("v7")) != 0 {
		t.Error("v6 cannot run v7")
	}
	if Score(ocispec.Platform{OS: "linux", Architecture: "amd64"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}) != 0 {
		t.Error("amd64 matched arm64")
	}
}
