package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMirrors(t *testing.T) {
	got, err := ParseMirrors([]string{"https://mirror.example", "http://127.0.0.1:5000/", "HTTPS://[::1]:443"})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, u := range got {
		s = append(s, u.String())
	}
	if want := []string{"https://mirror.example/", "http://127.0.0.1:5000/", "https://[::1]:443/"}; !reflect.DeepEqual(s, want) {
		t.Errorf("normalized %v, want %v", s, want)
	}
	for in, want := range map[string]string{
		"mirror.example":      `invalid mirror: unsupported scheme "" in "mirror.example"`,
		"ftp://m":             `invalid mirror: unsupported scheme "ftp" in "ftp://m"`,
		"https://m/?x=1":      `invalid mirror: query or fragment at end of the URI "https://m/?x=1"`,
		"https://m/#f":        `invalid mirror: query or fragment at end of the URI "https://m/#f"`,
		"https://u:secret@m/": `invalid mirror: username/password not allowed in URI "https://m/"`,
		"https://":            `invalid mirror: no host in "https://"`,
		"https://m/v2/proxy":  `invalid mirror: path "/v2/proxy" in "https://m/v2/proxy" is not supported`,
		"https://m:bad":       `invalid mirror: "https://m:bad" is not a valid URI`,
	} {
		if _, err := ParseMirrors([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error shows the password: %v", in, err)
		}
	}
}

func TestLoadRegistrySettings(t *testing.T) {
	base, fs := parse(t, "--registry-mirror=https://m1", "--registry-mirror", "http://m2:5000", "--registry-certs-dir=/c")
	got, err := Load(base, fs, filepath.Join(t.TempDir(), "none.json"), false)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.RegistryMirrors, []string{"https://m1", "http://m2:5000"}) || got.RegistryCertsDir != "/c" {
		t.Errorf("flags: mirrors %v, certs dir %q", got.RegistryMirrors, got.RegistryCertsDir)
	}
	base, fs = parse(t)
	if got, err := Load(base, fs, writeFile(t, `{"registry-mirrors":["https://m"]}`), false); err != nil || !reflect.DeepEqual(got.RegistryMirrors, []string{"https://m"}) || got.RegistryCertsDir != DefaultRegistryCertsDir {
		t.Errorf("file: %+v, %v", got, err)
	}
	base, fs = parse(t, "--registry-mirror=https://m1")
	if _, err := Load(base, fs, writeFile(t, `{"registry-mirrors":["https://m2"]}`), false); err == nil || !strings.Contains(err.Error(), "registry-mirrors: (from flag: [https://m1], from file: [https://m2])") {
		t.Errorf("flag and file: %v", err)
	}
	for file, want := range map[string]string{
		`{"registry-mirrors":["m"]}`:       `invalid mirror: unsupported scheme ""`,
		`{"registry-certs-dir":"certs"}`:   `invalid registry-certs-dir "certs": must be an absolute path`,
		`{"registry-mirrors":"https://m"}`: "invalid value",
	} {
		base, fs := parse(t)
		if _, err := Load(base, fs, writeFile(t, file), false); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}
