package image

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"

	"github.com/berth-engine/berth/api/types/filters"
	"github.com/berth-engine/berth/api/types/progress"
)

// ListOptions are the query of GET /images/json.
type ListOptions struct {
	All        bool
	Filters    filters.Args
	SharedSize bool
}

// ImportOptions are the query of POST /images/create?fromSrc=-.
type ImportOptions struct {
	Repo, Tag, Message, Platform string
	Changes                      []string
}

// Backend is what the image routes need of the daemon.
type Backend interface {
	Images(ctx context.Context, opts ListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	ImageTag(ctx context.Context, name, repo, tag string) error
	ImageDelete(ctx context.Context, name string, force, prune bool) ([]image.DeleteResponse, error)
	ImagesPrune(ctx context.Context, f filters.Args) (*image.PruneReport, error)
	// ImageImport makes an image of a root filesystem tar and returns its ID.
	ImageImport(ctx context.Context, src io.Reader, opts ImportOptions, out progress.Output) (string, error)
	// ImageLoad loads a `docker save` or OCI archive and returns a line per
	// loaded image ("Loaded image: busybox:latest").
	ImageLoad(ctx context.Context, src io.Reader, out progress.Output) ([]string, error)
	// ImageExport resolves every name before it writes anything to w, so a
	// bad name is an error response rather than a broken archive.
	ImageExport(ctx context.Context, names []string, w io.Writer) error
	// ImagePull pulls ref (name:tag or name@digest) from its registry for
	// platform ("" for the daemon's), with credentials auth (nil for none).
	// It writes its progress to out; an error returned before the first
	// message is the request's status.
	ImagePull(ctx context.Context, ref, platform string, auth *registry.AuthConfig, out progress.Output) error
	// ImagePullAllTags pulls every tag of the repository repo.
	ImagePullAllTags(ctx context.Context, repo, platform string, auth *registry.AuthConfig, out progress.Output) error
	// ImagePush pushes name:tag, or every tag of name when tag is "".
	ImagePush(ctx context.Context, name, tag string, auth *registry.AuthConfig, out progress.Output) error
}
