package tarexport

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func rootfsTar(t *testing.T) []byte {
	return layerTar(t, map[string]string{
		"bin/sh":       "#!fake shell\n",
		"etc/hostname": "imported\n",
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
	})
}

func importedConfig(t *testing.T, s *fakeStore, id digest.Digest) importConfig {
	t.Helper()
	b, err := s.ImageConfig(id)
	if err != nil {
		t.Fatal(err)
	}
	var c importConfig
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestImport(t *testing.T) {
	rootfs := rootfsTar(t)
	tag, _ := reference.ParseNormalizedNamed("imported/rootfs:v1")
	s := newFakeStore()
	before := time.Now().UTC().Add(-time.Second)
	id, err := Import(context.Background(), bytes.NewReader(gzipBytes(t, rootfs)), s, ImportOptions{
		Changes: []string{`CMD ["sh"]`, "ENV A=b", "WORKDIR /x", "EXPOSE 80"},
		Message: "made by a test",
		Tag:     tag.(reference.NamedTagged),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := importedConfig(t, s, id)
	want := dockerspec.DockerOCIImageConfig{}
	want.Cmd = []string{"sh"}
	want.Env = []string{"A=b"}
	want.WorkingDir = "/x"
	want.ExposedPorts = map[string]struct{}{"80/tcp": {}}
	if !reflect.DeepEqual(c.Config, want) {
		t.Errorf("config %+v", c.Config)
	}
	if c.OS != runtime.GOOS || c.Architecture != runtime.GOARCH || c.Comment != "made by a test" {
		t.Errorf("platform %s/%s, comment %q", c.OS, c.Architecture, c.Comment)
	}
	if c.Created == nil || c.Created.Before(before) || c.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("created %v", c.Created)
	}
	if len(c.History) != 1 || c.History[0].Comment != "made by a test" || c.History[0].CreatedBy != "" || !c.History[0].Created.Equal(*c.Created) {
		t.Errorf("history %+v", c.History)
	}
	if !reflect.DeepEqual(c.RootFS.DiffIDs, []digest.Digest{digest.FromBytes(rootfs)}) || c.RootFS.Type != "layers" {
		t.Errorf("rootfs %+v", c.RootFS)
	}
	if got, _ := s.ResolveImage("imported/rootfs:v1"); got != id {
		t.Errorf("tag on %s", got)
	}
	if s.heldRefs() != 0 || s.layerCount() != 1 {
		t.Errorf("%d refs held, %d layers", s.heldRefs(), s.layerCount())
	}
	// The imported image saves and loads.
	b := newFakeStore()
	loaded, _, err := load(t, b, save(t, s, "imported/rootfs:v1"), LoadOptions{})
	if err != nil || len(loaded) != 1 || loaded[0].ID != id {
		t.Fatalf("loaded %+v (%v)", loaded, err)
	}
}

func TestImportCompressions(t *testing.T) {
	rootfs := rootfsTar(t)
	sources := map[string][]byte{"plain": rootfs, "gzip": gzipBytes(t, rootfs), "zstd": zstdBytes(t, rootfs)}
	if _, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command("xz", "-c")
		cmd.Stdin = bytes.NewReader(rootfs)
		if out, err := cmd.Output(); err == nil {
			sources["xz"] = out
		}
	}
	if _, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(rootfs)
		if out, err := cmd.Output(); err == nil {
			sources["bzip2"] = out
		}
	}
	for name, src := range sources {
		s := newFakeStore()
		id, err := Import(context.Background(), bytes.NewReader(src), s, ImportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c := importedConfig(t, s, id); c.RootFS.DiffIDs[0] != digest.FromBytes(rootfs) {
			t.Errorf("%s: diff ID %s", name, c.RootFS.DiffIDs[0])
		}
	}
}

func TestImportErrors(t *testing.T) {
	rootfs := rootfsTar(t)
	gz := gzipBytes(t, rootfs)
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)/2] ^= 0xff
	windows := ocispec.Platform{OS: "windows", Architecture: "amd64"}
	for name, tc := range map[string]struct {
		src  []byte
		opts ImportOptions
		msg  string
	}{
		"RUN":             {rootfs, ImportOptions{Changes: []string{"RUN echo hi"}}, "run is not a valid change command"},
		"FROM":            {rootfs, ImportOptions{Changes: []string{"CMD sh", "FROM busybox"}}, "from is not a valid change command"},
		"unknown":         {rootfs, ImportOptions{Changes: []string{"FROBNICATE 1"}}, "frobnicate is not a valid change command"},
		"empty ENV":       {rootfs, ImportOptions{Changes: []string{"ENV"}}, "ENV requires at least one argument"},
		"ENV without =":   {rootfs, ImportOptions{Changes: []string{"ENV A=b C"}}, "can't find ="},
		"bad port":        {rootfs, ImportOptions{Changes: []string{"EXPOSE 80/xyz"}}, "invalid proto"},
		"unclosed quote":  {rootfs, ImportOptions{Changes: []string{`ENV A="b`}}, "double-quote"},
		"windows":         {rootfs, ImportOptions{Platform: &windows}, "cannot import"},
		"corrupt gzip":    {corrupt, ImportOptions{}, "invalid import source"},
		"truncated gzip":  {gz[:len(gz)-10], ImportOptions{}, "invalid import source"},
		"not a tar":       {[]byte(strings.Repeat("not a tar ", 100)), ImportOptions{}, "invalid"},
		"ONBUILD ONBUILD": {rootfs, ImportOptions{Changes: []string{"ONBUILD ONBUILD RUN x"}}, "isn't allowed"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newFakeStore()
			_, err := Import(context.Background(), bytes.NewReader(tc.src), s, tc.opts)
			if err == nil || !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want an invalid argument with %q", err, tc.msg)
			}
			if s.heldRefs() != 0 || s.layerCount() != 0 || s.imageCount() != 0 {
				t.Errorf("%d refs held, %d layers, %d images", s.heldRefs(), s.layerCount(), s.imageCount())
			}
		})
	}
}
