package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type loadOptions struct {
	input string
	quiet bool
}

// runLoad sends a tar archive (the -i file, else stdin) to the daemon and
// shows its progress. Progress bars are asked for only when out is a
// terminal that can draw them.
func runLoad(ctx context.Context, api client.ImageAPIClient, in io.Reader, out io.Writer, opts loadOptions) error {
	input := in
	if opts.input == "" {
		// Reading a terminal would wait for a tar archive nobody types.
		if isTerminal(in) {
			return errors.New("requested load from stdin, but stdin is empty")
		}
	} else {
		f, err := os.Open(opts.input)
		if err != nil {
			return err
		}
		defer f.Close()
		input = f
	}
	res, err := api.ImageLoad(ctx, input, client.ImageLoadWithQuiet(opts.quiet || !isTerminal(out)))
	if err != nil {
		return err
	}
	defer res.Close()
	return displayStream(res, out, nil)
}

type saveOptions struct {
	refs   []string
	output string
}

// runSave writes the images as a tar archive to the -o file, else to out,
// which must not be a terminal. The file appears only once the whole
// archive is written.
func runSave(ctx context.Context, api client.ImageAPIClient, out io.Writer, opts saveOptions) error {
	if opts.output == "" {
		if isTerminal(out) {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		res, err := api.ImageSave(ctx, opts.refs)
		if err != nil {
			return err
		}
		defer res.Close()
		_, err = io.Copy(out, res)
		return err
	}

	if fi, err := os.Stat(opts.output); err == nil && fi.IsDir() {
		return fmt.Errorf("failed to save image: invalid output path: %q is a directory", opts.output)
	}
	dir := filepath.Dir(opts.output)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("failed to save image: invalid output path: directory %q does not exist", dir)
	}
	tmp, err := os.CreateTemp(dir, ".berth-save-*")
	if err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	res, err := api.ImageSave(ctx, opts.refs)
	if err != nil {
		return err
	}
	defer res.Close()
	if _, err := io.Copy(tmp, res); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), opts.output); err != nil {
		return err
	}
	committed = true
	return nil
}

type importOptions struct {
	source   string // a file, an http(s) URL, or "-" for stdin
	ref      string
	changes  []string
	message  string
	platform string
}

// runImport makes an image of a root filesystem tarball and prints the
// new image's ID. A URL is passed on for the daemon to fetch, as docker
// does.
func runImport(ctx context.Context, api client.ImageAPIClient, in io.Reader, out io.Writer, opts importOptions) error {
	var source client.ImageImportSource
	switch {
	case opts.source == "-":
		source = client.ImageImportSource{Source: in, SourceName: "-"}
	case strings.HasPrefix(opts.source, "https://"), strings.HasPrefix(opts.source, "http://"):
		source = client.ImageImportSource{SourceName: opts.source}
	default:
		f, err := os.Open(opts.source)
		if err != nil {
			return err
		}
		defer f.Close()
		source = client.ImageImportSource{Source: f, SourceName: "-"}
	}
	var platform ocispec.Platform
	if opts.platform != "" {
		p, err := parsePlatform(opts.platform)
		if err != nil {
			return err
		}
		platform = p
	}
	res, err := api.ImageImport(ctx, source, opts.ref, client.ImageImportOptions{
		Message:  opts.message,
		Changes:  opts.changes,
		Platform: platform,
	})
	if err != nil {
		return err
	}
	defer res.Close()
	return displayStream(res, out, nil)
}

type pullOptions struct {
	remote   string
	all      bool
	quiet    bool
	platform string
}

// runPull pulls an image (every tag with all), showing the daemon's
// progress unless quiet, and ends by printing the full reference pulled.
func runPull(ctx context.Context, api client.ImageAPIClient, out, errOut io.Writer, opts pullOptions) error {
	ref, err := reference.ParseNormalizedNamed(opts.remote)
	switch {
	case err != nil:
		return err
	case opts.all && !reference.IsNameOnly(ref):
		return errors.New("tag can't be used with --all-tags/-a")
	case !opts.all && reference.IsNameOnly(ref):
		ref = reference.TagNameOnly(ref)
		if tagged, ok := ref.(reference.Tagged); ok && !opts.quiet {
			fmt.Fprintln(out, "Using default tag:", tagged.Tag())
		}
	}
	pullOpts := client.ImagePullOptions{All: opts.all, RegistryAuth: registryAuth(ref, errOut)}
	if opts.platform != "" {
		p, err := parsePlatform(opts.platform)
		if err != nil {
			return err
		}
		pullOpts.Platforms = []ocispec.Platform{p}
	}
	res, err := api.ImagePull(ctx, reference.FamiliarString(ref), pullOpts)
	if err != nil {
		return err
	}
	defer res.Close()
	progress := out
	if opts.quiet {
		progress = io.Discard
	}
	if err := displayStream(res, progress, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, ref.String())
	return nil
}

type pushOptions struct {
	remote string
	all    bool
	quiet  bool
}

// runPush pushes an image (every tag of the repository with all), showing
// the daemon's progress, or with quiet only the reference pushed.
func runPush(ctx context.Context, api client.ImageAPIClient, out, errOut io.Writer, opts pushOptions) error {
	ref, err := reference.ParseNormalizedNamed(opts.remote)
	switch {
	case err != nil:
		return err
	case opts.all && !reference.IsNameOnly(ref):
		return errors.New("tag can't be used with --all-tags/-a")
	case !opts.all && reference.IsNameOnly(ref):
		ref = reference.TagNameOnly(ref)
		if tagged, ok := ref.(reference.Tagged); ok && !opts.quiet {
			fmt.Fprintln(out, "Using default tag:", tagged.Tag())
		}
	}
	res, err := api.ImagePush(ctx, reference.FamiliarString(ref), client.ImagePushOptions{
		All:          opts.all,
		RegistryAuth: registryAuth(ref, errOut),
	})
	if err != nil {
		return err
	}
	defer res.Close()
	if opts.quiet {
		if err := displayStream(res, io.Discard, nil); err != nil {
			return err
		}
		fmt.Fprintln(out, ref.String())
		return nil
	}
	return displayStream(res, out, nil)
}

// officialIndex is the key Docker Hub's credentials are stored under.
const officialIndex = "https://index.docker.io/v1/"

// configDir is where the docker CLI keeps config.json: $DOCKER_CONFIG,
// else ~/.docker. berth reads the credentials `docker login` stored there.
func configDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// authEntry is one registry's entry in config.json's "auths".
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// registryAuth is the X-Registry-Auth value for ref's registry: the
// credentials config.json holds for it (docker's "auths", base64
// user:password; credential helpers are not consulted), else an empty
// login, which is what docker sends then too. A config file that cannot be
// read is warned about, as docker does, and treated as empty.
func registryAuth(ref reference.Named, warn io.Writer) string {
	key := reference.Domain(ref)
	if key == "docker.io" || key == "index.docker.io" {
		key = officialIndex
	}
	ac := registry.AuthConfig{ServerAddress: key}
	auths, err := loadAuths(filepath.Join(configDir(), "config.json"))
	if err != nil {
		fmt.Fprintf(warn, "WARNING: Error loading config file: %v\n", err)
	}
	if e, addr, ok := findAuth(auths, key); ok {
		user, pass, err := decodeAuth(e.Auth)
		if err != nil {
			fmt.Fprintf(warn, "WARNING: Error loading config file: %v\n", err)
		} else {
			ac = registry.AuthConfig{
				Username:      user,
				Password:      pass,
				ServerAddress: addr,
				IdentityToken: e.IdentityToken,
				RegistryToken: e.RegistryToken,
			}
		}
	}
	b, _ := json.Marshal(ac)
	return base64.URLEncoding.EncodeToString(b)
}

func loadAuths(path string) (map[string]authEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Auths map[string]authEntry `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg.Auths, nil
}

// findAuth looks key up as docker does: the exact key, else an entry whose
// key is the same host once its scheme and path are dropped (old config
// files say "https://registry.example.com/v1/").
func findAuth(auths map[string]authEntry, key string) (authEntry, string, bool) {
	if e, ok := auths[key]; ok {
		return e, key, true
	}
	host := hostOf(key)
	for k, e := range auths {
		if hostOf(k) == host {
			return e, k, true
		}
	}
	return authEntry{}, "", false
}

func hostOf(addr string) string {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	host, _, _ := strings.Cut(addr, "/")
	return host
}

func decodeAuth(s string) (user, pass string, err error) {
	if s == "" {
		return "", "", nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", err
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", errors.New("invalid auth configuration file")
	}
	return user, strings.Trim(pass, "\x00"), nil
}

// parsePlatform reads "os[/arch[/variant]]" as containerd's
// platforms.Parse does for the common cases: lower case, x86_64 and
// aarch64 spelled as Go does, an architecture alone meaning this OS, an OS
// alone meaning this architecture.
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	bad := func() (ocispec.Platform, error) {
		return ocispec.Platform{}, fmt.Errorf("invalid platform: %q: unknown operating system or architecture: invalid argument", s)
	}
	for _, p := range parts {
		if p == "" {
			return bad()
		}
	}
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		if knownOS[parts[0]] {
			p.OS, p.Architecture = parts[0], runtime.GOARCH
		} else if arch, variant, ok := normalizeArch(parts[0], ""); ok {
			p.OS, p.Architecture, p.Variant = runtime.GOOS, arch, variant
		} else {
			return bad()
		}
	case 2, 3:
		variant := ""
		if len(parts) == 3 {
			variant = parts[2]
		}
		arch, variant, _ := normalizeArch(parts[1], variant)
		p.OS, p.Architecture, p.Variant = parts[0], arch, variant
	default:
		return bad()
	}
	if p.OS == "macos" {
		p.OS = "darwin"
	}
	return p, nil
}

var knownOS = map[string]bool{
	"linux": true, "windows": true, "darwin": true, "macos": true, "freebsd": true,
	"netbsd": true, "openbsd": true, "solaris": true, "illumos": true, "aix": true, "android": true,
}

func normalizeArch(arch, variant string) (string, string, bool) {
	switch arch {
	case "i386", "386":
		return "386", "", true
	case "x86_64", "x86-64", "amd64":
		if variant == "v1" {
			variant = ""
		}
		return "amd64", variant, true
	case "aarch64", "arm64":
		switch variant {
		case "8", "v8", "v8.0":
			variant = ""
		}
		return "arm64", variant, true
	case "armhf":
		return "arm", "v7", true
	case "armel":
		return "arm", "v6", true
	case "arm":
		switch variant {
		case "", "7":
			variant = "v7"
		case "5", "6", "8":
			variant = "v" + variant
		}
		return "arm", variant, true
	case "ppc64le", "s390x", "riscv64", "mips64", "mips64le", "loong64":
		return arch, variant, true
	}
	return arch, variant, false
}
