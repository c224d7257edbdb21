package integration

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr is a 127.0.0.1 address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRegistryMirror pulls a Docker Hub image through registry-mirrors:
// the first mirror is down, the second has the image, and Hub (out of
// reach here) is never needed. docker info shows the mirrors.
func TestRegistryMirror(t *testing.T) {
	t.Parallel()
	mirror := startRegistry(t, nil)
	dead := freeAddr(t)
	d := startDaemon(t, daemonOpts{config: map[string]any{"registry-mirrors": []string{"http://" + dead, "http://" + mirror + "/"}}})
	docker := newDockerCLI(t, d)

	// Seed the mirror as Hub's library/busybox: a push never goes to a
	// mirror, so it goes to the registry by its own name.
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	seed := mirror + "/library/busybox"
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo="+url.QueryEscape(seed)+"&tag=mirrored", nil), 201, "tag")
	d.push(t, seed, "mirrored", "")
	docker.ok("rmi", "-f", busyboxID)

	out := docker.ok("pull", "busybox:mirrored")
	for _, want := range []string{"mirrored: Pulling from library/busybox", "Pull complete", "Status: Downloaded newer image for busybox:mirrored", "docker.io/library/busybox:mirrored"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker pull through the mirror lacks %q:\n%s", want, out)
		}
	}
	if id := d.inspectImage(t, "busybox:mirrored").ID; id != busyboxID {
		t.Errorf("pulled %s, want %s", id, busyboxID)
	}
	if log := d.logContents(); !strings.Contains(log, "skipping mirror http://"+dead) {
		t.Errorf("berthd did not log the dead mirror it skipped:\n%s", d.logTail())
	}

	wantMirrors := []string{"http://" + dead + "/", "http://" + mirror + "/"}
	rc := d.info().RegistryConfig
	if rc == nil || !slices.Equal(rc.Mirrors, wantMirrors) || rc.IndexConfigs["docker.io"] == nil || !slices.Equal(rc.IndexConfigs["docker.io"].Mirrors, wantMirrors) {
		t.Errorf("RegistryConfig %+v, want mirrors %v", rc, wantMirrors)
	}
	out = docker.ok("info")
	if !strings.Contains(out, "Registry Mirrors:\n  http://"+dead+"/\n  http://"+mirror+"/\n") {
		t.Errorf("docker info does not list the mirrors:\n%s", out)
	}

	// A bad mirror keeps berthd from starting.
	bad := newDaemon(t, daemonOpts{config: map[string]any{"registry-mirrors": []string{"mirror.example"}}})
	if err := bad.startErr(); err == nil || !strings.Contains(bad.logContents(), `invalid mirror: unsupported scheme "" in "mirror.example"`) {
		t.Errorf("bad mirror: %v\n%s", err, bad.logContents())
	}
}

// TestRegistryReloadOnSIGHUP changes insecure-registries and
// registry-mirrors with SIGHUP: the next push and pull follow them.
func TestRegistryReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	d := startNetnsDaemon(t, map[string]any{})
	// Plain HTTP on an address that is not loopback: not insecure until
	// the configuration says so.
	host := startRegistryWith(t, registryOpts{netnsPid: d.pid(), addr: nsRegistryIP + ":5000"})
	docker := newDockerCLI(t, d)
	d.load(t, fixture(t, "busybox-docker-save.tar"))
	repo := host + "/library/busybox"
	expectStatus(t, d.do("POST", "/v1.44/images/busybox/tag?repo="+url.QueryEscape(repo)+"&tag=1", nil), 201, "tag")
	push := func() string { return opError(d.withAuth("POST", "/v1.44/images/"+repo+"/push?tag=1", "")) }
	if msg := push(); !strings.Contains(msg, "http: server gave HTTP response to HTTPS client") {
		t.Fatalf("push to a plain-HTTP registry that is not insecure: %q", msg)
	}

	since := time.Now()
	d.writeConfig(map[string]any{"insecure-registries": []string{host}, "registry-mirrors": []string{"http://" + host}})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "the mirror in /info after SIGHUP", func() bool {
		rc := d.info().RegistryConfig
		return rc != nil && slices.Equal(rc.Mirrors, []string{"http://" + host + "/"})
	})
	if msg := push(); msg != "" {
		t.Fatalf("push once the registry is insecure: %s", msg)
	}
	if _, ok := d.info().RegistryConfig.IndexConfigs[host]; !ok {
		t.Errorf("/info has no index entry for the insecure %s", host)
	}
	docker.ok("rmi", "-f", busyboxID)
	if out := docker.ok("pull", "busybox:1"); !strings.Contains(out, "Status: Downloaded newer image for busybox:1") {
		t.Errorf("docker pull through the reloaded mirror:\n%s", out)
	}
	var attrs map[string]string
	for _, m := range d.eventsBetween(since, time.Now(), map[string][]string{"type": {"daemon"}, "event": {"reload"}}) {
		attrs = m.Actor.Attributes
	}
	var mirrors, insecure []string
	if err := json.Unmarshal([]byte(attrs["registry-mirrors"]), &mirrors); err != nil || !slices.Equal(mirrors, []string{"http://" + host}) {
		t.Errorf("reload event registry-mirrors %q", attrs["registry-mirrors"])
	}
	if err := json.Unmarshal([]byte(attrs["insecure-registries"]), &insecure); err != nil || !slices.Equal(insecure, []string{host}) {
		t.Errorf("reload event insecure-registries %q", attrs["insecure-registries"])
	}
	if !strings.Contains(d.logContents(), `insecure-registries="[] -> [\"`+host+`\"]"`) {
		t.Errorf("berthd did not log the insecure-registries change:\n%s", d.logTail())
	}

	// Back to nothing: the registry is secure again.
	expectStatus(t, d.do("POST", "/v1.44/images/busybox:1/tag?repo="+url.QueryEscape(repo)+"&tag=1", nil), 201, "tag")
	d.writeConfig(map[string]any{})
	d.signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "no mirror in /info after SIGHUP", func() bool {
		rc := d.info().RegistryConfig
		return rc != nil && len(rc.Mirrors) == 0
	})
	if msg := push(); !strings.Contains(msg, "http: server gave HTTP response to HTTPS client") {
		t.Errorf("push after insecure-registries was emptied: %q", msg)
	}
}
