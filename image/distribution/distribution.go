// Package distribution pulls images from and pushes them to registries that
// speak the Registry HTTP API v2 (Docker Distribution, the OCI distribution
// spec): `docker pull` (Pull) and `docker push` (Push).
//
// Like image/tarexport, it knows nothing of how the daemon stores layers and
// images: it works through the small Store interface below, which the daemon
// satisfies with an adapter over its layer, image and reference stores.
//
// # Registry client
//
// The protocol's hard parts come from github.com/google/go-containerregistry:
// pkg/name (registry and repository names, docker.io's aliases),
// pkg/authn (credentials) and pkg/v1/remote/transport (the /v2/ ping that
// finds the scheme, HTTPS first with the plain-HTTP fallback for insecure
// registries, and the basic and bearer-token handshakes with their scopes
// and token refresh, plus the decoding of registry error bodies). It is
// well kept, small in what it pulls in, and ships pkg/registry, an in-memory
// registry the tests run on. The requests themselves (manifests, blob GET
// and HEAD, uploads, mounts) are plain HTTP over the authenticated
// transport, written here rather than taken from pkg/v1/remote: a layer must
// stream straight to a temporary file or its extraction with exact
// progress, be verified by our own code, and an upload must stream a layer
// compressed on the fly;
// remote's Image and Layer abstractions hide all three.
//
// # Endpoints, TLS and login
//
// A repository is reached at its registry: over HTTPS, verified against
// the system's roots plus the CAs and client certificates of the registry's
// directory under Options.CertsDir (Docker's certs.d), or, for an insecure
// registry, over HTTPS unverified or plain HTTP. A pull of a Docker Hub
// image tries Options.Mirrors first (see Pull). Login checks credentials
// the same way, against the registry alone.
//
// # Pull
//
// The manifest is fetched (an image index or manifest list is resolved to
// the manifest for the wanted platform), then the config; if the image
// already exists nothing else is fetched ("Image is up to date"). Otherwise
// the layers already in the store are skipped ("Already exists") and the
// others are downloaded, three at a time, while their sha256 and size are
// checked against the manifest's descriptor: the first one to register
// straight into its registration, the others to temporary files. They are
// decompressed (gzip, zstd or none, detected by magic number; gzip by igzip
// when the daemon found it, see gunzip.go) into the store in chain order,
// each as soon as the ones below it are there, reading its file as it
// grows, so that a large layer downloads, decompresses and applies at once;
// each diff ID must match the config's rootfs.diff_ids, and each blob its
// digest (a blob's reader sees its end only once it checked out). A digest
// reference's manifest must have that digest. The image is created only
// when every layer checked out; on any failure the layer references taken
// are released, so nothing is left behind.
//
// # Push
//
// Layers are uploaded gzip-compressed, streaming from the store's tar of
// each layer (progress counts the uncompressed bytes, as Docker's does);
// a layer whose blob is known to be in the registry already (from an
// earlier pull or push, see BlobIndex) is checked with HEAD and skipped, or
// mounted from another repository of the same registry. Then the config
// and a schema2 manifest (OCI when a layer is zstd) are put.
package distribution

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
)

// Store is what Pull and Push need of the daemon's image subsystem.
//
// Reference counting is tarexport.Store's: every successful GetLayer or
// RegisterLayer hands the caller one reference on the layer, dropped by
// calling release (idempotent). Pull holds its references until the image
// that uses the layers exists and releases them all when it fails, so a
// failed pull leaves nothing behind.
type Store interface {
	// GetLayer takes a reference on the existing layer with this chain ID.
	// It fails with an error satisfying errdefs.IsNotFound if there is none.
	GetLayer(chainID digest.Digest) (release func(), err error)

	// RegisterLayer applies the uncompressed layer tar diff on top of the
	// layer parent ("" for a base layer), reading diff to its end, and
	// returns the layer's chain ID and diff ID (the sha256 of diff).
	RegisterLayer(diff io.Reader, parent digest.Digest) (chainID, diffID digest.Digest, release func(), err error)

	// LayerTarStream returns the uncompressed tar of one layer's diff; its
	// sha256 is the layer's diff ID. LayerTarSize is its length.
	LayerTarStream(chainID digest.Digest) (io.ReadCloser, error)
	LayerTarSize(chainID digest.Digest) (int64, error)

	// CreateImage stores an image config (creating an existing image is not
	// an error) and returns the image ID, sha256(config).
	CreateImage(config []byte) (digest.Digest, error)

	// ImageConfig returns the config of an image, byte for byte; an error
	// satisfying errdefs.IsNotFound if there is no such image.
	ImageConfig(id digest.Digest) ([]byte, error)

	// ResolveImage finds an image by reference or ID, as tarexport.Store's.
	ResolveImage(refOrID string) (digest.Digest, error)

	// LookupReference returns the image a tag or digest reference points to;
	// an error satisfying errdefs.IsNotFound if none.
	LookupReference(ref reference.Named) (digest.Digest, error)

	// Tag points a tag at an image, moving it from the image it was on.
	Tag(ref reference.NamedTagged, id digest.Digest) error

	// AddDigest records a digest reference (a RepoDigest) for an image,
	// moving it from the image it was on.
	AddDigest(ref reference.Canonical, id digest.Digest) error

	// ReferencesByName lists the references of one repository.
	ReferencesByName(repo reference.Named) []Association
}

// Association is a reference and the image it points to.
type Association struct {
	Ref reference.Named
	ID  digest.Digest
}

// Credentials authenticate to a registry: a user name and password (basic
// auth, or exchanged for a bearer token), an identity token (an OAuth2
// refresh token) or a ready bearer token. The zero value is anonymous.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string
	RegistryToken string
}

// Progress is one progress report: a status line for an ID ("Downloading",
// "Pull complete"; ID is a layer's short digest, a tag, or "" for a line of
// its own), optionally with a byte count; Aux is out-of-band data (push's
// {"Tag","Digest","Size"}).
type Progress struct {
	ID      string
	Action  string
	Current int64
	Total   int64
	Aux     any
}

// PushResult is the aux message of a push, one per tag pushed.
type PushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Options are common to Pull and Push.
type Options struct {
	// Credentials for the registry.
	Credentials Credentials
	// Insecure reports whether the registry host[:port] may be reached over
	// plain HTTP or HTTPS without certificate verification (HTTPS is tried
	// first). nil: none may.
	Insecure func(host string) bool
	// TempDir is where layers are downloaded, in a directory of their own
	// removed when Pull returns; it should be on the data root's filesystem.
	// "" means os.TempDir().
	TempDir string
	// Progress, if set, receives progress reports; it may be called from
	// several goroutines, never concurrently.
	Progress func(Progress)
	// Blobs, if set, remembers which registry blobs hold which layers, so
	// that a push can skip or mount them. It may be nil.
	Blobs *BlobIndex
	// Transport is the base HTTP transport (tests); nil builds one per
	// operation, honouring the proxy environment variables.
	Transport http.RoundTripper
	// MaxConcurrent bounds the simultaneous layer transfers: 0 means 3 for
	// downloads and 5 for uploads, as in Docker.
	MaxConcurrent int
	// UserAgent is sent to registries.
	UserAgent string
	// CertsDir holds TLS material per registry host, as Docker's
	// /etc/docker/certs.d: <CertsDir>/<host[:port]>/ with *.crt files (CA
	// roots added to the system's) and *.cert + *.key client certificate
	// pairs. It serves registries that are not insecure (those are not
	// verified at all). "" means none.
	CertsDir string
	// Mirrors of Docker Hub (http:// or https:// URLs of a registry host),
	// tried in order before Hub by Pull and PullAllTags. A mirror that
	// fails before any layer is fetched is skipped for the next.
	Mirrors []*url.URL
	// Log, if set, is told of the mirrors skipped.
	Log logrus.FieldLogger
}

// PullOptions tune Pull.
type PullOptions struct {
	Options
	// Platform picks the manifest of an image index; nil is this daemon's.
	// An image that is not an index must match it when it is set.
	Platform *ocispec.Platform
	// GzipCommand, if set, inflates gzip layers in a process of its own
	// (igzip; see FindGzipCommand); "" inflates them in process.
	GzipCommand string
}

// mediaTypes of manifests, configs and layers.
const (
	mediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerConfig        = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer         = "application/vnd.docker.image.rootfs.diff.tar"
	mediaTypeDockerLayerGzip     = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeDockerLayerZstd     = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	mediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// Size limits of what is read into memory.
const (
	maxManifestSize = 4 << 20 // as distribution's registry
	maxConfigSize   = 64 << 20
)

// errorf returns an error of the errdefs class base with a message.
func errorf(base error, format string, args ...any) error {
	return classed{base: base, msg: fmt.Sprintf(format, args...)}
}

// classed is an error of an errdefs class with a message of its own; it
// may wrap a cause.
type classed struct {
	base  error
	msg   string
	cause error
}

func (e classed) Error() string { return e.msg }

func (e classed) Unwrap() []error {
	if e.cause != nil {
		return []error{e.base, e.cause}
	}
	return []error{e.base}
}

func invalidf(format string, args ...any) error {
	return errorf(errdefs.ErrInvalidArgument, format, args...)
}

func notFoundf(format string, args ...any) error {
	return errorf(errdefs.ErrNotFound, format, args...)
}

// shortID is the 12-hex-digit form of a digest the docker CLI shows.
func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// ChainID returns the chain ID of the layer with this diff ID on top of the
// layer parent ("" for none).
func ChainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// isNotFound reports whether a store error means "no such thing".
func isNotFound(err error) bool {
	return errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrNotFound)
}
