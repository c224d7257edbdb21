package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGenerateInit(t *testing.T) {
	fakeHost(t, nil)
	const initPath = "/usr/bin/tini-static"
	initM := specs.Mount{Destination: InContainerInitPath, Type: "bind", Source: initPath, Options: []string{"bind", "ro"}}
	tests := []struct {
		name      string
		initPath  string
		pidMode   container.PidMode
		pidNSPath string
		mounts    []specs.Mount
		wantArgs  []string
		wantMount *specs.Mount
		wantErr   string
	}{
		{name: "no init", wantArgs: []string{"sleep", "100"}},
		{name: "init", initPath: initPath, wantArgs: []string{"/sbin/docker-init", "--", "sleep", "100"}, wantMount: &initM},
		{name: "init with pid host is ignored", initPath: initPath, pidMode: "host", wantArgs: []string{"sleep", "100"}},
		{name: "init with pid container: is ignored", initPath: initPath, pidMode: "container:web", pidNSPath: "/proc/1/ns/pid", wantArgs: []string{"sleep", "100"}},
		{
			name: "user mount on /sbin comes first", initPath: initPath,
			mounts:   []specs.Mount{{Destination: "/sbin", Type: "bind", Source: "/srv/sbin", Options: []string{"rbind"}}},
			wantArgs: []string{"/sbin/docker-init", "--", "sleep", "100"}, wantMount: &initM,
		},
		{
			name: "user mount on /sbin/docker-init replaces the init's", initPath: initPath,
			mounts:    []specs.Mount{{Destination: InContainerInitPath, Type: "bind", Source: "/opt/my-init", Options: []string{"rbind", "ro"}}},
			wantArgs:  []string{"/sbin/docker-init", "--", "sleep", "100"},
			wantMount: &specs.Mount{Destination: InContainerInitPath, Type: "bind", Source: "/opt/my-init", Options: []string{"rbind", "ro"}},
		},
		{name: "relative init path", initPath: "tini", wantErr: `init path "tini" must be absolute`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(t)
			o.Config.Entrypoint, o.Config.Cmd = []string{"sleep"}, []string{"100"}
			o.HostConfig.PidMode = tc.pidMode
			o.PIDNSPath = tc.pidNSPath
			o.Mounts = tc.mounts
			o.InitPath = tc.initPath
			s, err := Generate(o)
			if !checkErr(t, err, tc.wantErr) {
				return
			}
			if !slices.Equal(s.Process.Args, tc.wantArgs) {
				t.Errorf("args = %q, want %q", s.Process.Args, tc.wantArgs)
			}
			got := mountByDest(s.Mounts, InContainerInitPath)
			switch {
			case tc.wantMount == nil && got != nil:
				t.Errorf("unexpected init mount %+v", *got)
			case tc.wantMount != nil && got == nil:
				t.Errorf("no mount at %s in %q", InContainerInitPath, dests(s.Mounts))
			case tc.wantMount != nil && jsonString(*got) != jsonString(*tc.wantMount):
				t.Errorf("init mount = %s, want %s", jsonString(*got), jsonString(*tc.wantMount))
			}
			if n := strings.Count(strings.Join(dests(s.Mounts), " "), InContainerInitPath); tc.wantMount != nil && n != 1 {
				t.Errorf("%d mounts at %s, want 1", n, InContainerInitPath)
			}
			// Parents before children: /sbin precedes /sbin/docker-init.
			ds := dests(s.Mounts)
			if i, j := slices.Index(ds, "/sbin"), slices.Index(ds, InContainerInitPath); i >= 0 && j >= 0 && i > j {
				t.Errorf("mount order %q: /sbin after %s", ds, InContainerInitPath)
			}
		})
	}
}

func TestWantsInit(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name          string
		init          *bool
		pidMode       container.PidMode
		daemonDefault bool
		want          bool
	}{
		{name: "unset, daemon default off", want: false},
		{name: "unset, daemon default on", daemonDefault: true, want: true},
		{name: "true", init: &yes, want: true},
		{name: "false beats daemon default", init: &no, daemonDefault: true, want: false},
		{name: "pid host", init: &yes, pidMode: "host", want: false},
		{name: "pid container", init: &yes, pidMode: "container:x", daemonDefault: true, want: false},
		{name: "pid private", init: &yes, pidMode: "private", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hc := &container.HostConfig{Init: tc.init, PidMode: tc.pidMode}
			if got := WantsInit(hc, tc.daemonDefault); got != tc.want {
				t.Errorf("WantsInit = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLookupInit(t *testing.T) {
	dir := t.TempDir()
	bin, libexec, empty := filepath.Join(dir, "bin"), filepath.Join(dir, "libexec"), filepath.Join(dir, "empty")
	for _, d := range []string{bin, libexec, empty} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := func(p string) string {
		t.Helper()
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tini := exe(filepath.Join(bin, "tini-static"))
	notExec := filepath.Join(dir, "not-exec")
	writeFile(t, notExec, "")

	t.Setenv("PATH", bin)
	// Only tini-static is there: the fallback.
	if got, err := lookupInit("", []string{libexec}); err != nil || got != tini {
		t.Fatalf(`lookupInit("") = %q, %v; want %q`, got, err, tini)
	}
	// docker-init in PATH wins over tini-static.
	dockerInit := exe(filepath.Join(bin, "docker-init"))
	if got, err := lookupInit("", []string{libexec}); err != nil || got != dockerInit {
		t.Fatalf(`lookupInit("") = %q, %v; want %q`, got, err, dockerInit)
	}
	// A libexec docker-init wins over PATH, as in dockerd.
	libexecInit := exe(filepath.Join(libexec, "docker-init"))
	if got, err := lookupInit("", []string{libexec}); err != nil || got != libexecInit {
		t.Fatalf(`lookupInit("") = %q, %v; want %q`, got, err, libexecInit)
	}
	// A name is looked up; an absolute path is taken as is.
	if got, err := lookupInit("tini-static", []string{empty}); err != nil || got != tini {
		t.Fatalf(`lookupInit("tini-static") = %q, %v`, got, err)
	}
	if got, err := lookupInit(tini, nil); err != nil || got != tini {
		t.Fatalf("lookupInit(%q) = %q, %v", tini, got, err)
	}

	for _, tc := range []struct{ initPath, path, want string }{
		{initPath: "", path: empty, want: "neither docker-init nor tini-static is in PATH"},
		{initPath: "my-init", path: bin, want: "my-init not found in PATH"},
		{initPath: filepath.Join(dir, "missing"), path: bin, want: "init-path " + filepath.Join(dir, "missing") + ": stat " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{initPath: notExec, path: bin, want: "init-path " + notExec + ": permission denied"},
		{initPath: bin, path: bin, want: "init-path " + bin + ": is a directory"},
	} {
		t.Setenv("PATH", tc.path)
		got, err := lookupInit(tc.initPath, []string{empty})
		if err == nil || err.Error() != tc.want {
			t.Errorf("lookupInit(%q) = %q, %v; want error %q", tc.initPath, got, err, tc.want)
		}
	}
}

func TestParseInitVersion(t *testing.T) {
	tests := []struct {
		out, version, commit, wantErr string
	}{
		{out: "tini version 0.19.0 - git.de40ad0\n", version: "0.19.0", commit: "de40ad0"},
		{out: "tini version 0.19.0\n", version: "0.19.0"},
		{out: "tini version 0.18.0 - git.fec3683\nextra\n", version: "0.18.0", commit: "fec3683"},
		{out: "catatonit 0.1.7\n", wantErr: `unknown init version output "catatonit 0.1.7"`},
		{out: "", wantErr: `unknown init version output ""`},
	}
	for _, tc := range tests {
		v, c, err := ParseInitVersion(tc.out)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseInitVersion(%q) error = %v, want %q", tc.out, err, tc.wantErr)
			}
			continue
		}
		if err != nil || v != tc.version || c != tc.commit {
			t.Errorf("ParseInitVersion(%q) = %q, %q, %v; want %q, %q", tc.out, v, c, err, tc.version, tc.commit)
		}
	}
}
