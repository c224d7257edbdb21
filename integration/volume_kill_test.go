package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/volume"
)

// TestVolumeChangesSurviveKill: acknowledged creates (with labels, named and
// anonymous) and removes hold after a SIGKILL and after a clean stop: each
// was committed to metadata.db before its answer.
func TestVolumeChangesSurviveKill(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{})
	want := map[string]volume.Volume{}
	for i := range 30 {
		v := d.createVolume(fmt.Sprintf("k%02d", i), map[string]string{"i": fmt.Sprint(i)})
		want[v.Name] = v
	}
	for i := 0; i < 30; i += 3 {
		name := fmt.Sprintf("k%02d", i)
		expectStatus(t, d.do(http.MethodDelete, "/volumes/"+name, nil), http.StatusNoContent, "remove "+name)
		delete(want, name)
	}
	anon := d.createVolume("", nil)
	want[anon.Name] = anon

	check := func(when string) {
		t.Helper()
		got := d.listVolumes("")
		if len(got) != len(want) {
			t.Fatalf("%s: %d volumes, want %d: %v", when, len(got), len(want), d.volumeNames(""))
		}
		for _, v := range got {
			w, ok := want[v.Name]
			if !ok {
				t.Fatalf("%s: unexpected volume %s", when, v.Name)
			}
			if v.CreatedAt != w.CreatedAt || v.Mountpoint != w.Mountpoint || !maps(v.Labels, w.Labels) {
				t.Errorf("%s: %+v, before %+v", when, v, w)
			}
		}
		if q := d.quota(); q.Volumes != len(want) {
			t.Errorf("%s: quota count %d, want %d", when, q.Volumes, len(want))
		}
	}
	d.kill()
	d.start()
	check("after SIGKILL")
	want["after"] = d.createVolume("after", nil)
	if st := d.stop(); st == nil || !st.Success() {
		t.Fatalf("berthd exit after SIGTERM: %v", st)
	}
	d.start()
	check("after a clean stop")
}

// TestDebugServesProfiles: --debug serves Go's profiles under /debug/pprof/;
// without it there is no such page.
func TestDebugServesProfiles(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{args: []string{"--debug"}})
	r := d.do(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
	expectStatus(t, r, http.StatusOK, "goroutine profile with --debug")
	if !strings.Contains(string(r.body), "goroutine profile:") {
		t.Fatalf("goroutine profile: %.200s", r.body)
	}
	plain := startDaemon(t, daemonOpts{})
	r = plain.do(http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
	expectError(t, r, http.StatusNotFound, "page not found", "profile without --debug")
}
