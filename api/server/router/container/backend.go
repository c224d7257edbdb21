package container

import (
	"context"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/api/types/filters"
)

// Backend is what the container and exec routes need of the daemon.
type Backend interface {
	ContainerCreate(ctx context.Context, c CreateConfig) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, name string) error
	ContainerStop(ctx context.Context, name string, o StopOptions) error
	ContainerRestart(ctx context.Context, name string, o StopOptions) error
	ContainerKill(ctx context.Context, name, signal string) error
	// ContainerWait checks the container exists and returns a channel that
	// yields once the condition is met; the router sends its headers in
	// between, as Docker does.
	ContainerWait(ctx context.Context, name string, cond container.WaitCondition) (<-chan container.WaitResponse, error)
	ContainerRemove(ctx context.Context, name string, o RemoveOptions) error
	Containers(ctx context.Context, o ListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error)
	ContainerLogs(ctx context.Context, name string, o LogsOptions) error
	ContainerAttach(ctx context.Context, name string, o AttachOptions) error
	ContainerResize(ctx context.Context, name string, height, width uint16) error
	ContainerTop(ctx context.Context, name, psArgs string) (*container.TopResponse, error)
	ContainerPause(ctx context.Context, name string) error
	ContainerUnpause(ctx context.Context, name string) error
	ContainerRename(ctx context.Context, oldName, newName string) error
	ContainerUpdate(ctx context.Context, name string, u *container.UpdateConfig) (*container.UpdateResponse, error)
	ContainerStats(ctx context.Context, name string, o StatsOptions) error
	ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error)
	ContainerExport(ctx context.Context, name string, out io.Writer) error
	ContainerStatPath(ctx context.Context, name, path string) (*container.PathStat, error)
	ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, *container.PathStat, error)
	ContainerExtractToDir(ctx context.Context, name, path string, o ExtractOptions, content io.Reader) error
	ContainersPrune(ctx context.Context, f filters.Args) (*container.PruneReport, error)
	ContainerCommit(ctx context.Context, o CommitOptions) (string, error)

	ExecCreate(ctx context.Context, name string, req *container.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, execID string, o ExecStartOptions) error
	ExecInspect(ctx context.Context, execID string) (*container.ExecInspectResponse, error)
	ExecResize(ctx context.Context, execID string, height, width uint16) error
}

// CreateConfig is a POST /containers/create request.
type CreateConfig struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
	Platform         *ocispec.Platform
}

// StopOptions are the stop and restart parameters; Timeout nil means the
// container's own stop timeout.
type StopOptions struct {
	Signal  string
	Timeout *int
}

// RemoveOptions are DELETE /containers/{id}'s parameters.
type RemoveOptions struct {
	RemoveVolumes bool
	Force         bool
	RemoveLink    bool
}

// ListOptions are GET /containers/json's parameters.
type ListOptions struct {
	All     bool
	Size    bool
	Limit   int
	Filters filters.Args
}

// StreamFunc hijacks (or takes over) the connection once the backend has
// validated the request: multiplexed says whether the output is in Docker's
// stdcopy framing (no TTY) so the router can set the content type. It
// returns the client's stdin (nil when not requested) and the output
// writer; the router closes both when the backend returns.
type StreamFunc func(multiplexed bool) (stdin io.ReadCloser, out io.Writer, err error)

// AttachOptions are POST /containers/{id}/attach's parameters.
type AttachOptions struct {
	Streams               StreamFunc
	Stdin, Stdout, Stderr bool
	Logs, Stream          bool
	DetachKeys            string
}

// ExecStartOptions are POST /exec/{id}/start's parameters. With Detach the
// backend starts the process and returns without calling Streams.
type ExecStartOptions struct {
	Streams     StreamFunc
	Detach      bool
	ConsoleSize *[2]uint
}

// LogsOptions are GET /containers/{id}/logs's parameters. Output is called
// once the container is known to exist and its log readable, with whether
// the stream is multiplexed (no TTY); every write should reach the client
// at once (the router flushes).
type LogsOptions struct {
	Output                      func(multiplexed bool) io.Writer
	Stdout, Stderr              bool
	Follow, Timestamps, Details bool
	Since, Until                string
	Tail                        string
}

// StatsOptions are GET /containers/{id}/stats's parameters; Output is
// called for each sample (once without Stream).
type StatsOptions struct {
	Stream  bool
	OneShot bool
	Output  func(*container.StatsResponse) error
}

// ExtractOptions are PUT /containers/{id}/archive's parameters.
type ExtractOptions struct {
	AllowOverwriteDirWithFile bool
	CopyUIDGID                bool
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Container string
	Repo, Tag string
	Comment   string
	Author    string
	Pause     bool
	Changes   []string
	Config    *container.Config
}
