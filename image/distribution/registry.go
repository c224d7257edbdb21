package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// repoClient talks to one repository of a registry over a transport that
// has done the /v2/ handshake and authenticates every request.
type repoClient struct {
	named  reference.Named // the repository, normalized (docker.io/library/busybox)
	domain string          // the registry as the reference names it (docker.io, 127.0.0.1:5000)
	reg    name.Registry   // the registry contacted: domain's, or a mirror of it
	path   string          // the repository's path in the registry (library/busybox)
	client *http.Client
	idle   func() // closes idle connections
}

// manifestAccept are the manifest types Pull understands, best first.
var manifestAccept = []string{
	ocispec.MediaTypeImageIndex,
	mediaTypeDockerManifestList,
	ocispec.MediaTypeImageManifest,
	mediaTypeDockerManifest,
}

// newRepoClient connects to the repository of named at ep with the scopes
// of a pull, or of a push (push and pull on the repository, pull on the
// mount sources, paths in the same registry).
func newRepoClient(ctx context.Context, named reference.Named, ep endpoint, opts Options, push bool, mountFrom []string) (*repoClient, error) {
	c := &repoClient{named: reference.TrimNamed(named), domain: reference.Domain(named), path: reference.Path(named)}
	scopes := func(reg name.Registry) []string {
		repo := reg.Repo(c.path)
		if !push {
			return []string{repo.Scope(transport.PullScope)}
		}
		sc := []string{repo.Scope(transport.PushScope)}
		for _, from := range mountFrom {
			sc = append(sc, reg.Repo(from).Scope(transport.PullScope))
		}
		return sc
	}
	reg, rt, idle, err := connect(ctx, ep, opts, scopes)
	if err != nil {
		return nil, translateError(ctx, err)
	}
	c.reg, c.idle = reg, idle
	c.client = &http.Client{Transport: rt}
	return c, nil
}

func (c *repoClient) close() { c.idle() }

func authenticator(cr Credentials) authn.Authenticator {
	if cr == (Credentials{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      cr.Username,
		Password:      cr.Password,
		IdentityToken: cr.IdentityToken,
		RegistryToken: cr.RegistryToken,
	})
}

// url is the URL of a path under the repository (/manifests/x, /blobs/x).
// The scheme is the transport's business: it uses the one the ping found.
func (c *repoClient) url(p string) string {
	return "https://" + c.reg.RegistryStr() + "/v2/" + c.path + p
}

// do sends a request and checks its status; on an unexpected one the
// response is consumed and a translated error returned.
func (c *repoClient) do(ctx context.Context, method, u string, body io.Reader, hdr http.Header, ok ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, translateError(ctx, err)
	}
	if err := transport.CheckError(resp, ok...); err != nil {
		resp.Body.Close()
		return nil, translateError(ctx, err)
	}
	return resp, nil
}

// manifest is a fetched manifest (or index).
type manifest struct {
	body      []byte
	mediaType string
	digest    digest.Digest
}

// getManifest fetches a manifest by tag or digest. By digest, its content
// must have that digest.
func (c *repoClient) getManifest(ctx context.Context, tagOrDigest string) (*manifest, error) {
	hdr := http.Header{"Accept": {strings.Join(manifestAccept, ", ")}}
	resp, err := c.do(ctx, http.MethodGet, c.url("/manifests/"+tagOrDigest), nil, hdr, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxManifestSize)
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, invalidf("manifest %s of %s is larger than %d bytes", tagOrDigest, reference.FamiliarName(c.named), maxManifestSize)
		}
		return nil, translateError(ctx, err)
	}
	m := &manifest{body: body, digest: digest.FromBytes(body)}
	if want, err := digest.Parse(tagOrDigest); err == nil {
		if !want.Algorithm().Available() {
			return nil, invalidf("unsupported digest algorithm %s", want.Algorithm())
		}
		if got := want.Algorithm().FromBytes(body); got != want {
			return nil, invalidf("manifest verification failed for digest %s: the registry sent a manifest with digest %s", want, got)
		}
		m.digest = want
	}
	m.mediaType = manifestMediaType(resp.Header.Get("Content-Type"), body)
	return m, nil
}

// manifestMediaType decides what a manifest is: its own mediaType field,
// else the Content-Type, else its shape.
func manifestMediaType(contentType string, body []byte) string {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     json.RawMessage   `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		FSLayers      []json.RawMessage `json:"fsLayers"`
	}
	_ = json.Unmarshal(body, &probe)
	if probe.MediaType != "" {
		return probe.MediaType
	}
	if ct, _, err := mime.ParseMediaType(contentType); err == nil && ct != "" && ct != "application/json" && ct != "text/plain" && ct != "application/octet-stream" {
		return ct
	}
	switch {
	case probe.SchemaVersion == 1 || probe.FSLayers != nil:
		return mediaTypeDockerSchema1
	case probe.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case probe.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return ""
}

// getBlob opens a blob for reading.
func (c *repoClient) getBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, c.url("/blobs/"+d.String()), nil, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// blobExists asks with HEAD whether the repository has the blob.
func (c *repoClient) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.url("/blobs/"+d.String()), nil)
	if err != nil {
		return false, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, translateError(ctx, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, translateError(ctx, transport.CheckError(resp, http.StatusOK))
}

// startUpload begins a blob upload, or mounts the blob d from the
// repository from (same registry) when both are set: mounted is then true
// if the registry did, else an upload started anyway.
func (c *repoClient) startUpload(ctx context.Context, d digest.Digest, from string) (location string, mounted bool, err error) {
	u := c.url("/blobs/uploads/")
	if d != "" && from != "" {
		u += "?" + url.Values{"mount": {d.String()}, "from": {from}}.Encode()
	}
	resp, err := c.do(ctx, http.MethodPost, u, nil, nil, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return "", false, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return "", true, nil
	}
	loc, err := resolveLocation(resp)
	return loc, false, err
}

// resolveLocation resolves a response's Location header against its request.
func resolveLocation(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("registry answered %s %s without a Location", resp.Request.Method, resp.Request.URL.Path)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("registry sent an invalid Location %q: %w", loc, err)
	}
	return u.String(), nil
}

// patchUpload streams body (of unknown length) to an upload.
func (c *repoClient) patchUpload(ctx context.Context, loc string, body io.Reader) (string, error) {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err := c.do(ctx, http.MethodPatch, loc, io.NopCloser(body), hdr, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	if resp.Header.Get("Location") == "" {
		return loc, nil
	}
	return resolveLocation(resp)
}

// finishUpload completes an upload as blob d, sending body (nil: nothing
// more) with it.
func (c *repoClient) finishUpload(ctx context.Context, loc string, d digest.Digest, body []byte) error {
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	var rd io.Reader
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, err := c.do(ctx, http.MethodPut, u.String(), rd, hdr, http.StatusCreated, http.StatusNoContent, http.StatusAccepted)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// putManifest puts a manifest under a tag (or digest).
func (c *repoClient) putManifest(ctx context.Context, tagOrDigest, mediaType string, body []byte) error {
	hdr := http.Header{"Content-Type": {mediaType}}
	resp, err := c.do(ctx, http.MethodPut, c.url("/manifests/"+tagOrDigest), bytes.NewReader(body), hdr, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// listTags lists the repository's tags, following pagination.
func (c *repoClient) listTags(ctx context.Context) ([]string, error) {
	var tags []string
	next := c.url("/tags/list?n=1000")
	for next != "" {
		resp, err := c.do(ctx, http.MethodGet, next, nil, nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		b, err := readLimited(resp.Body, maxManifestSize)
		resp.Body.Close()
		if err != nil {
			return nil, translateError(ctx, err)
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("invalid tag list from %s: %w", c.domain, err)
		}
		tags = append(tags, page.Tags...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			if s, e := strings.Index(link, "<"), strings.Index(link, ">"); s >= 0 && e > s {
				if u, err := resp.Request.URL.Parse(link[s+1 : e]); err == nil {
					next = u.String()
				}
			}
		}
		if len(tags) > 100000 {
			break
		}
	}
	return tags, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

var errTooLarge = errors.New("too large")

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// RegistryError is an error answer of a registry: its status and the
// codes of its body (MANIFEST_UNKNOWN, UNAUTHORIZED...).
type RegistryError struct {
	Status int
	Codes  []string
	msg    string
}

func (e *RegistryError) Error() string { return e.msg }

// HasCode reports whether the registry gave this error code.
func (e *RegistryError) HasCode(code string) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// translateError turns an error of the transport into one classed with errdefs
// and worded as Docker words it: "manifest unknown: manifest unknown".
func translateError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var terr *transport.Error
	if !errors.As(err, &terr) {
		var uerr *url.Error
		var nerr net.Error
		if errors.As(err, &uerr) || errors.As(err, &nerr) {
			return classed{base: errdefs.ErrUnavailable, msg: err.Error(), cause: err}
		}
		return err
	}
	re := &RegistryError{Status: terr.StatusCode}
	var parts []string
	for _, d := range terr.Errors {
		code := string(d.Code)
		re.Codes = append(re.Codes, code)
		p := strings.ToLower(strings.ReplaceAll(code, "_", " "))
		if d.Message != "" {
			p += ": " + d.Message
		}
		parts = append(parts, p)
	}
	switch {
	case len(parts) > 0:
		re.msg = strings.Join(parts, ", ")
	case terr.StatusCode == http.StatusUnauthorized:
		re.msg = "unauthorized: authentication required"
		re.Codes = []string{string(transport.UnauthorizedErrorCode)}
	default:
		re.msg = terr.Error()
	}
	var base error
	switch {
	case re.HasCode(string(transport.ManifestUnknownErrorCode)), re.HasCode(string(transport.NameUnknownErrorCode)),
		re.HasCode(string(transport.BlobUnknownErrorCode)), terr.StatusCode == http.StatusNotFound:
		base = errdefs.ErrNotFound
	case re.HasCode(string(transport.UnauthorizedErrorCode)), re.HasCode(string(transport.DeniedErrorCode)),
		terr.StatusCode == http.StatusUnauthorized, terr.StatusCode == http.StatusForbidden:
		// Not ErrUnauthenticated: a 401 from the daemon makes the docker
		// CLI prompt for a login; Docker answers these as failures too.
		base = errdefs.ErrPermissionDenied
	case re.HasCode(string(transport.TooManyRequestsErrorCode)), terr.StatusCode == http.StatusTooManyRequests:
		base = errdefs.ErrResourceExhausted
	case terr.StatusCode >= 500:
		base = errdefs.ErrUnavailable
	case terr.StatusCode == http.StatusBadRequest:
		base = errdefs.ErrInvalidArgument
	default:
		base = errdefs.ErrUnknown
	}
	return classed{base: base, msg: re.msg, cause: re}
}
