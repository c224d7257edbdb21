// Package system implements `berth info` and `berth version`. The run*
// functions hold the logic; cmd.go only wires them to cobra.
package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/api/types/sysinfo"
	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/internal/version"
)

// serverInfo is GET /info as berthd sends it. VolumeQuota is a pointer so
// that a daemon sending none (a Docker engine named with -H) gets no quota
// line rather than a false "unlimited".
type serverInfo struct {
	system.Info
	VolumeQuota *sysinfo.VolumeQuota `json:",omitempty"`
}

// clientInfo is the Client section of `berth info`.
type clientInfo struct {
	Version   string
	GitCommit string
	GoVersion string
	Os        string
	Arch      string
	Host      string
	Debug     bool
}

// infoView is what `berth info --format` templates see: the daemon's
// fields at the top level (as in docker), plus ClientInfo.
type infoView struct {
	serverInfo
	ClientInfo clientInfo
}

type infoOptions struct {
	format string
	host   string
	debug  bool
}

// runInfo prints the Client section, then fetches and prints the Server
// section. Without --format a daemon that cannot be reached still gets the
// Client section printed before the error, as docker does.
// The daemon's warnings go to errOut after the listing, as in docker.
func runInfo(ctx context.Context, api *client.Client, out, errOut io.Writer, opts infoOptions) error {
	view := infoView{ClientInfo: clientInfo{
		Version:   version.Version,
		GitCommit: version.GitCommit,
		GoVersion: runtime.Version(),
		Os:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Host:      opts.host,
		Debug:     opts.debug,
	}}
	if opts.format != "" {
		format := opts.format
		if format == formatter.JSONKey {
			format = formatter.JSONFormat
		}
		tmpl, err := formatter.Parse("", format)
		if err != nil {
			return command.StatusError{Status: err.Error(), StatusCode: formatter.TemplateParseStatus}
		}
		if view.serverInfo, err = fetchInfo(ctx, api); err != nil {
			return err
		}
		err = tmpl.Execute(out, view)
		fmt.Fprintln(out)
		return err
	}

	printClientInfo(out, view.ClientInfo)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Server:")
	info, err := fetchInfo(ctx, api)
	if err != nil {
		return err
	}
	printServerInfo(out, info, opts.debug)
	for _, w := range info.Warnings {
		fmt.Fprintln(errOut, w)
	}
	return nil
}

// fetchInfo reads GET /info itself because the moby client's Info decodes
// into system.Info and drops VolumeQuota. It goes through the client's own
// dialer and negotiated API version, so it reaches the same daemon the same
// way every other command does, and words errors as the client does.
func fetchInfo(ctx context.Context, api *client.Client) (serverInfo, error) {
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return serverInfo{}, err
	}
	dial := api.Dialer()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}}
	defer hc.CloseIdleConnections()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+client.DummyHost+"/v"+api.ClientVersion()+"/info", nil)
	if err != nil {
		return serverInfo{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return serverInfo{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return serverInfo{}, err
	}
	if resp.StatusCode >= http.StatusBadRequest {
		var e struct{ Message string }
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return serverInfo{}, errors.New("Error response from daemon: " + e.Message)
	}
	var info serverInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return serverInfo{}, fmt.Errorf("error reading remote info: %w", err)
	}
	return info, nil
}

func printClientInfo(out io.Writer, c clientInfo) {
	fmt.Fprintln(out, "Client:")
	fmt.Fprintln(out, " Version:   ", c.Version)
	fmt.Fprintln(out, " Host:      ", c.Host)
	fmt.Fprintln(out, " Debug Mode:", c.Debug)
}

// printServerInfo follows docker's layout and wording line for line, with
// Berth Root Dir for Docker Root Dir and the Volume Quota line added. The
// daemon's debug counters show when either side runs in debug mode.
func printServerInfo(out io.Writer, info serverInfo, debug bool) {
	p := func(a ...any) { fmt.Fprintln(out, a...) }
	nonEmpty := func(label, v string) {
		if v != "" {
			p(label, v)
		}
	}
	p(" Containers:", info.Containers)
	p("  Running:", info.ContainersRunning)
	p("  Paused:", info.ContainersPaused)
	p("  Stopped:", info.ContainersStopped)
	p(" Images:", info.Images)
	if q := info.VolumeQuota; q != nil {
		p(" Volume Quota:", quotaText(*q))
	}
	nonEmpty(" Server Version:", info.ServerVersion)
	nonEmpty(" Storage Driver:", info.Driver)
	for _, kv := range info.DriverStatus {
		fmt.Fprintf(out, "  %s: %s\n", kv[0], kv[1])
	}
	nonEmpty(" Logging Driver:", info.LoggingDriver)
	nonEmpty(" Cgroup Driver:", info.CgroupDriver)
	nonEmpty(" Cgroup Version:", info.CgroupVersion)
	p(" Plugins:")
	p("  Volume:", strings.Join(info.Plugins.Volume, " "))
	p("  Network:", strings.Join(info.Plugins.Network, " "))
	if len(info.Plugins.Authorization) > 0 {
		p("  Authorization:", strings.Join(info.Plugins.Authorization, " "))
	}
	p("  Log:", strings.Join(info.Plugins.Log, " "))
	p(" Swarm:", info.Swarm.LocalNodeState)
	if len(info.Runtimes) > 0 {
		p(" Runtimes:", strings.Join(slices.Sorted(maps.Keys(info.Runtimes)), " "))
		p(" Default Runtime:", info.DefaultRuntime)
	}
	if len(info.SecurityOptions) > 0 {
		p(" Security Options:")
		for _, o := range info.SecurityOptions {
			p("  " + o)
		}
	}
	nonEmpty(" Kernel Version:", info.KernelVersion)
	nonEmpty(" Operating System:", info.OperatingSystem)
	nonEmpty(" OSType:", info.OSType)
	nonEmpty(" Architecture:", info.Architecture)
	p(" CPUs:", info.NCPU)
	p(" Total Memory:", units.BytesSize(float64(info.MemTotal)))
	nonEmpty(" Name:", info.Name)
	nonEmpty(" ID:", info.ID)
	p(" Berth Root Dir:", info.DockerRootDir)
	p(" Debug Mode:", info.Debug)
	if info.Debug || debug {
		p("  File Descriptors:", info.NFd)
		p("  Goroutines:", info.NGoroutines)
		p("  System Time:", info.SystemTime)
		p("  EventsListeners:", info.NEventsListener)
	}
	nonEmpty(" HTTP Proxy:", info.HTTPProxy)
	nonEmpty(" HTTPS Proxy:", info.HTTPSProxy)
	nonEmpty(" No Proxy:", info.NoProxy)
	if len(info.Labels) > 0 {
		p(" Labels:")
		for _, l := range info.Labels {
			p("  " + l)
		}
	}
	p(" Experimental:", info.ExperimentalBuild)
	p(" Live Restore Enabled:", info.LiveRestoreEnabled)
	p()
}

// quotaText says how much of the volume quota is used; max-volumes is
// repeated verbatim so the line also tells which berthd flag to change.
func quotaText(q sysinfo.VolumeQuota) string {
	if q.MaxVolumes <= 0 {
		return fmt.Sprintf("%d volumes, unlimited (max-volumes=%d)", q.Volumes, q.MaxVolumes)
	}
	return fmt.Sprintf("%d of %d volumes in use (max-volumes=%d)", q.Volumes, q.MaxVolumes, q.MaxVolumes)
}
