package image

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/cmd/berth/command"
)

// fakeTerminals makes the given streams terminals, 120 columns wide.
func fakeTerminals(t *testing.T, ttys ...any) {
	t.Helper()
	oldT, oldW := isTerminal, terminalWidth
	isTerminal = func(v any) bool {
		for _, s := range ttys {
			if s == v {
				return true
			}
		}
		return false
	}
	terminalWidth = func(any) uint16 { return 120 }
	t.Cleanup(func() { isTerminal, terminalWidth = oldT, oldW })
}

func TestLoad(t *testing.T) {
	d, api := newFakeDaemon(t)
	d.stream = loadStream
	tarball := filepath.Join(t.TempDir(), "alpine.tar")
	if err := os.WriteFile(tarball, []byte("TARBALL"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Not a terminal: quiet is asked for, the stream shown as lines.
	var out bytes.Buffer
	if err := runLoad(context.Background(), api, strings.NewReader(""), &out, loadOptions{input: tarball}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Loaded image: alpine:latest\n" {
		t.Errorf("got %q", out.String())
	}
	if string(d.body) != "TARBALL" || d.query.Get("quiet") != "1" || d.header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("sent %q, query %v, headers %v", d.body, d.query, d.header)
	}

	// A terminal: progress is asked for and drawn in place.
	out.Reset()
	fakeTerminals(t, &out)
	if err := runLoad(context.Background(), api, strings.NewReader("FROM STDIN"), &out, loadOptions{}); err != nil {
		t.Fatal(err)
	}
	if string(d.body) != "FROM STDIN" || d.query.Get("quiet") != "0" {
		t.Errorf("sent %q, query %v", d.body, d.query)
	}
	if !strings.Contains(out.String(), "\x1b[2K\r8e012198eea1: Loading layer [=") || !strings.HasSuffix(out.String(), "\x1b[1BLoaded image: alpine:latest\n") {
		t.Errorf("terminal output %q", out.String())
	}

	// -q on a terminal: no progress.
	out.Reset()
	if err := runLoad(context.Background(), api, strings.NewReader("x"), &out, loadOptions{quiet: true}); err != nil {
		t.Fatal(err)
	}
	if d.query.Get("quiet") != "1" {
		t.Errorf("quiet %v", d.query)
	}

	// stdin a terminal and no -i: refused before anything is sent.
	stdin := strings.NewReader("")
	fakeTerminals(t, stdin)
	calls := d.calls
	err := runLoad(context.Background(), api, stdin, &out, loadOptions{})
	if err == nil || err.Error() != "requested load from stdin, but stdin is empty" || d.calls != calls {
		t.Errorf("err = %v, calls %d", err, d.calls-calls)
	}

	if err := runLoad(context.Background(), api, stdin, &out, loadOptions{input: filepath.Join(t.TempDir(), "none.tar")}); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadStreamError(t *testing.T) {
	d, api := newFakeDaemon(t)
	d.stream = `{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}` + "\n"
	var out bytes.Buffer
	err := runLoad(context.Background(), api, strings.NewReader("x"), &out, loadOptions{})
	if err == nil || err.Error() != "unexpected EOF" || command.ExitCode(err) != 1 {
		t.Errorf("err = %v", err)
	}
}

func TestSave(t *testing.T) {
	d, api := newFakeDaemon(t)

	// stdout a terminal: refused before anything is asked.
	var out bytes.Buffer
	fakeTerminals(t, &out)
	err := runSave(context.Background(), api, &out, saveOptions{refs: []string{"alpine"}})
	if err == nil || err.Error() != "cowardly refusing to save to a terminal. Use the -o flag or redirect" || d.calls != 0 {
		t.Errorf("err = %v, calls %d", err, d.calls)
	}

	// -o is fine from a terminal.
	dir := t.TempDir()
	file := filepath.Join(dir, "images.tar")
	if err := runSave(context.Background(), api, &out, saveOptions{refs: []string{"alpine", "busybox:1"}, output: file}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "TAR:alpine,busybox:1" || out.Len() != 0 {
		t.Errorf("file %q, stdout %q", b, out.String())
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}

	// A failed save leaves no file behind.
	bad := filepath.Join(dir, "bad.tar")
	err = runSave(context.Background(), api, &out, saveOptions{refs: []string{"nope"}, output: bad})
	if err == nil || err.Error() != "Error response from daemon: No such image: nope" {
		t.Errorf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %v", entries)
	}

	for _, o := range []string{dir, filepath.Join(dir, "no", "such.tar")} {
		if err := runSave(context.Background(), api, &out, saveOptions{refs: []string{"alpine"}, output: o}); err == nil || !strings.HasPrefix(err.Error(), "failed to save image: invalid output path: ") {
			t.Errorf("%s: %v", o, err)
		}
	}

	// Redirected stdout.
	fakeTerminals(t)
	out.Reset()
	if err := runSave(context.Background(), api, &out, saveOptions{refs: []string{"alpine"}}); err != nil || out.String() != "TAR:alpine" {
		t.Errorf("stdout %q, %v", out.String(), err)
	}
}

func TestImport(t *testing.T) {
	d, api := newFakeDaemon(t)
	d.stream = `{"status":"sha256:` + strings.Repeat("ab", 32) + `"}` + "\n"
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(rootfs, []byte("ROOTFS"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runImport(context.Background(), api, strings.NewReader(""), &out, importOptions{
		source: rootfs, ref: "me/app:v1",
		changes:  []string{"ENV A=1,2", `CMD ["/bin/sh"]`},
		message:  "from a tarball",
		platform: "linux/arm64/v8",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "sha256:"+strings.Repeat("ab", 32)+"\n" {
		t.Errorf("out %q", out.String())
	}
	q := d.query
	if d.path != "/images/create" || string(d.body) != "ROOTFS" || q.Get("fromSrc") != "-" || q.Get("repo") != "me/app:v1" ||
		q.Get("message") != "from a tarball" || q.Get("platform") != "linux/arm64" ||
		strings.Join(q["changes"], "|") != `ENV A=1,2|CMD ["/bin/sh"]` {
		t.Errorf("%s %q %v", d.path, d.body, q)
	}

	// A URL is for the daemon to fetch; "-" is stdin.
	if err := runImport(context.Background(), api, strings.NewReader(""), &out, importOptions{source: "https://example.com/rootfs.tar"}); err != nil {
		t.Fatal(err)
	}
	if d.query.Get("fromSrc") != "https://example.com/rootfs.tar" || len(d.body) != 0 || d.query.Has("repo") || d.query.Has("platform") {
		t.Errorf("url: %q %v", d.body, d.query)
	}
	if err := runImport(context.Background(), api, strings.NewReader("STDIN"), &out, importOptions{source: "-"}); err != nil {
		t.Fatal(err)
	}
	if d.query.Get("fromSrc") != "-" || string(d.body) != "STDIN" {
		t.Errorf("stdin: %q %v", d.body, d.query)
	}

	if err := runImport(context.Background(), api, nil, &out, importOptions{source: "-", platform: "linux//x"}); err == nil {
		t.Error("bad platform accepted")
	}
}

// dockerConfig points DOCKER_CONFIG at a directory holding config.json.
func dockerConfig(t *testing.T, content string) {
	t.Helper()
	dir := t.TempDir()
	if content != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

func decodeAuthHeader(t *testing.T, h string) registry.AuthConfig {
	t.Helper()
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("header %q: %v", h, err)
	}
	var ac registry.AuthConfig
	if err := json.Unmarshal(b, &ac); err != nil {
		t.Fatalf("header %q: %v", b, err)
	}
	return ac
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

const pullStream = `{"status":"Pulling from library/alpine","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"f18232174bc9"}
{"status":"Downloading","progressDetail":{"current":1024,"total":3642},"id":"f18232174bc9"}
{"status":"Pull complete","progressDetail":{},"id":"f18232174bc9"}
{"status":"Digest: sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c"}
{"status":"Status: Downloaded newer image for alpine:latest"}
`

func TestPull(t *testing.T) {
	dockerConfig(t, `{"auths":{"https://index.docker.io/v1/":{"auth":"`+basic("hub-user", "s3cr:et")+`"}}}`)
	d, api := newFakeDaemon(t)
	d.stream = pullStream
	var out, errOut bytes.Buffer
	if err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "alpine"}); err != nil {
		t.Fatal(err)
	}
	want := `Using default tag: latest
latest: Pulling from library/alpine
f18232174bc9: Pulling fs layer
f18232174bc9: Pull complete
Digest: sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c
Status: Downloaded newer image for alpine:latest
docker.io/library/alpine:latest
`
	if out.String() != want || errOut.Len() != 0 {
		t.Errorf("got\n%s\nwant\n%s\nstderr %q", out.String(), want, errOut.String())
	}
	if d.path != "/images/create" || d.query.Get("fromImage") != "docker.io/library/alpine" || d.query.Get("tag") != "latest" {
		t.Errorf("%s %v", d.path, d.query)
	}
	ac := decodeAuthHeader(t, d.header.Get("X-Registry-Auth"))
	if ac != (registry.AuthConfig{Username: "hub-user", Password: "s3cr:et", ServerAddress: "https://index.docker.io/v1/"}) {
		t.Errorf("auth %+v", ac)
	}

	// Quiet: only the reference; all tags; a platform.
	out.Reset()
	if err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "alpine", all: true, quiet: true, platform: "arm64"}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "docker.io/library/alpine\n" || d.query.Has("tag") || d.query.Get("platform") != runtime.GOOS+"/arm64" {
		t.Errorf("quiet: %q %v", out.String(), d.query)
	}

	out.Reset()
	err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "alpine:3", all: true})
	if err == nil || err.Error() != "tag can't be used with --all-tags/-a" || d.calls != 2 {
		t.Errorf("err = %v", err)
	}
	if err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "Alpine"}); err == nil || !strings.Contains(err.Error(), "invalid reference format") {
		t.Errorf("err = %v", err)
	}

	// By digest: no default tag, the digest is sent as the tag.
	out.Reset()
	dg := "sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c"
	if err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "alpine@" + dg, quiet: true}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "docker.io/library/alpine@"+dg+"\n" || d.query.Get("tag") != dg {
		t.Errorf("digest: %q %v", out.String(), d.query)
	}
}

func TestPullStreamError(t *testing.T) {
	dockerConfig(t, "")
	d, api := newFakeDaemon(t)
	d.stream = `{"status":"Pulling from library/nope","id":"latest"}
{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}
`
	var out, errOut bytes.Buffer
	err := runPull(context.Background(), api, &out, &errOut, pullOptions{remote: "nope:1"})
	if err == nil || err.Error() != "manifest unknown" || command.ExitCode(err) != 1 {
		t.Errorf("err = %v", err)
	}
	if out.String() != "latest: Pulling from library/nope\n" {
		t.Errorf("out %q", out.String())
	}
	// No credentials: an empty login for the registry, as docker sends.
	ac := decodeAuthHeader(t, d.header.Get("X-Registry-Auth"))
	if ac != (registry.AuthConfig{ServerAddress: "https://index.docker.io/v1/"}) {
		t.Errorf("auth %+v", ac)
	}
}

func TestPush(t *testing.T) {
	dockerConfig(t, `{"auths":{
		"https://localhost:5000/v1/":{"auth":"`+basic("me", "pw")+`"},
		"other.example.com":{"auth":"`+basic("x", "y")+`"}
	}, "credsStore":"desktop"}`)
	d, api := newFakeDaemon(t)
	d.stream = `{"status":"The push refers to repository [localhost:5000/me/app]"}
{"status":"Preparing","progressDetail":{},"id":"08000c18d16d"}
{"status":"Pushing","progressDetail":{"current":512,"total":1024},"id":"08000c18d16d"}
{"status":"Pushed","progressDetail":{},"id":"08000c18d16d"}
{"status":"v1: digest: sha256:0123 size: 528"}
{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:0123","Size":528}}
`
	var out, errOut bytes.Buffer
	if err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "localhost:5000/me/app:v1"}); err != nil {
		t.Fatal(err)
	}
	want := `The push refers to repository [localhost:5000/me/app]
08000c18d16d: Preparing
08000c18d16d: Pushed
v1: digest: sha256:0123 size: 528
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if d.path != "/images/localhost:5000/me/app/push" || d.query.Get("tag") != "v1" {
		t.Errorf("%s %v", d.path, d.query)
	}
	// An old-style key matches by host.
	ac := decodeAuthHeader(t, d.header.Get("X-Registry-Auth"))
	if ac != (registry.AuthConfig{Username: "me", Password: "pw", ServerAddress: "https://localhost:5000/v1/"}) {
		t.Errorf("auth %+v", ac)
	}

	out.Reset()
	if err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "localhost:5000/me/app", quiet: true}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "localhost:5000/me/app:latest\n" || d.query.Get("tag") != "latest" {
		t.Errorf("quiet: %q %v", out.String(), d.query)
	}

	out.Reset()
	if err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "localhost:5000/me/app", all: true}); err != nil {
		t.Fatal(err)
	}
	if d.query.Has("tag") || strings.Contains(out.String(), "Using default tag") {
		t.Errorf("all: %q %v", out.String(), d.query)
	}

	calls := d.calls
	if err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "me/app:v1", all: true}); err == nil || d.calls != calls {
		t.Errorf("tag with -a: %v", err)
	}
	if err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "me/app@sha256:a8560b36e8b8210634f77d9f7f9efd7ffa463e380b75e2e74aff4511df3ef88c"}); err == nil || err.Error() != "cannot push a digest reference" {
		t.Errorf("digest: %v", err)
	}
}

func TestPushDenied(t *testing.T) {
	dockerConfig(t, "{not json")
	d, api := newFakeDaemon(t)
	d.stream = `{"status":"The push refers to repository [docker.io/me/app]"}
{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied: requested access to the resource is denied"}
`
	var out, errOut bytes.Buffer
	err := runPush(context.Background(), api, &out, &errOut, pushOptions{remote: "me/app:v1", quiet: true})
	if err == nil || err.Error() != "denied: requested access to the resource is denied" {
		t.Errorf("err = %v", err)
	}
	if out.Len() != 0 || !strings.HasPrefix(errOut.String(), "WARNING: Error loading config file: ") {
		t.Errorf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}

func TestRegistryAuthSpellings(t *testing.T) {
	dockerConfig(t, `{"auths":{"registry.example.com":{"auth":"`+basic("u", "p")+`","identitytoken":"tok"}, "bad.example.com":{"auth":"bm9jb2xvbg=="}}}`)
	for _, tc := range []struct {
		remote string
		want   registry.AuthConfig
		warn   bool
	}{
		{"registry.example.com/a/b:1", registry.AuthConfig{Username: "u", Password: "p", IdentityToken: "tok", ServerAddress: "registry.example.com"}, false},
		{"index.docker.io/library/alpine", registry.AuthConfig{ServerAddress: "https://index.docker.io/v1/"}, false},
		{"bad.example.com/x", registry.AuthConfig{ServerAddress: "bad.example.com"}, true},
	} {
		d, api := newFakeDaemon(t)
		var errOut bytes.Buffer
		if err := runPull(context.Background(), api, io.Discard, &errOut, pullOptions{remote: tc.remote}); err != nil {
			t.Fatal(err)
		}
		if ac := decodeAuthHeader(t, d.header.Get("X-Registry-Auth")); ac != tc.want {
			t.Errorf("%s: %+v", tc.remote, ac)
		}
		if (errOut.Len() > 0) != tc.warn {
			t.Errorf("%s: stderr %q", tc.remote, errOut.String())
		}
	}
}

func TestParsePlatform(t *testing.T) {
	for in, want := range map[string]ocispec.Platform{
		"linux/amd64":    {OS: "linux", Architecture: "amd64"},
		"Linux/x86_64":   {OS: "linux", Architecture: "amd64"},
		"linux/aarch64":  {OS: "linux", Architecture: "arm64"},
		"linux/arm64/v8": {OS: "linux", Architecture: "arm64"},
		"linux/arm":      {OS: "linux", Architecture: "arm", Variant: "v7"},
		"linux/arm/v6":   {OS: "linux", Architecture: "arm", Variant: "v6"},
		"windows/amd64":  {OS: "windows", Architecture: "amd64"},
		"linux":          {OS: "linux", Architecture: runtime.GOARCH},
		"arm64":          {OS: runtime.GOOS, Architecture: "arm64"},
	} {
		got, err := parsePlatform(in)
		if err != nil || got.OS != want.OS || got.Architecture != want.Architecture || got.Variant != want.Variant {
			t.Errorf("%s: %+v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "linux/", "a/b/c/d", "nonsense"} {
		if _, err := parsePlatform(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
