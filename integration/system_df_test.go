package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/berth-engine/berth/api/types/sysinfo"
)

func TestSystemDiskUsageVolumes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	v := d.createVolume("sized", nil)
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 1234), 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.do("GET", "/v1.44/system/df", nil)
	expectStatus(t, r, 200, "GET /system/df")
	var du sysinfo.DiskUsage
	r.decode(t, &du)
	if len(du.Volumes) != 1 || du.Volumes[0].UsageData == nil || du.Volumes[0].UsageData.Size != 1234 || du.Volumes[0].UsageData.RefCount != 0 {
		t.Fatalf("volumes in system df: %+v", du.Volumes)
	}
	if du.Images == nil || du.Containers == nil || du.BuildCache == nil {
		t.Errorf("empty lists must be [] not null: %s", r.body)
	}
	expectError(t, d.do("GET", "/system/df?type=bogus", nil), 400, "unknown object type: bogus", "bad type")

	t.Run("docker", func(t *testing.T) {
		out := newDockerCLI(t, d).ok("system", "df")
		if !regexp.MustCompile(`(?m)^Local Volumes\s+1\s+0\s+1\.234kB`).MatchString(out) {
			t.Errorf("docker system df:\n%s", out)
		}
	})
}
