package system

import (
	"context"
	"io"
	"runtime"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/cmd/berth/command"
	"github.com/berth-engine/berth/cmd/berth/command/formatter"
	"github.com/berth-engine/berth/internal/version"
)

// versionTemplate is docker's, less the Context line (berth has none).
const versionTemplate = `{{with .Client -}}
Client:
 Version:	{{.Version}}
 API version:	{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 Built:	{{.BuildTime}}
 OS/Arch:	{{.Os}}/{{.Arch}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:	{{.Version}}
  API version:	{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:	{{index .Details "GoVersion"}}
  Git commit:	{{index .Details "GitCommit"}}
  Built:	{{index .Details "BuildTime"}}
  OS/Arch:	{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:	{{index .Details "Experimental"}}
  {{- else }}
  Version:	{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:	{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}{{- end}}`

type clientVersion struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string `json:"DefaultAPIVersion,omitempty"`
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	BuildTime         string `json:",omitempty"`
}

// serverVersionView is GET /version in the field order of the docker CLI's
// own type, so that --format json prints byte for byte what docker prints.
type serverVersionView struct {
	Platform      struct{ Name string }     `json:",omitempty"`
	Components    []system.ComponentVersion `json:",omitempty"`
	Version       string
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:",omitempty"`
	GitCommit     string
	GoVersion     string
	Os            string
	Arch          string
	KernelVersion string `json:",omitempty"`
	Experimental  bool   `json:",omitempty"`
	BuildTime     string `json:",omitempty"`
}

// versionView is what `berth version --format` templates see.
type versionView struct {
	Client clientVersion
	Server *serverVersionView
}

// ServerOK tells the template whether there is a Server section to print.
func (v versionView) ServerOK() bool { return v.Server != nil }

type versionOptions struct {
	format string
}

// runVersion prints the client's version and, if the daemon answers, the
// server's. The client section is printed even when the daemon is down.
func runVersion(ctx context.Context, api *client.Client, out io.Writer, opts versionOptions) error {
	format := opts.format
	switch format {
	case "":
		format = versionTemplate
	case formatter.JSONKey:
		format = formatter.JSONFormat
	}
	tmpl, err := formatter.Parse("version", format)
	if err != nil {
		return command.StatusError{Status: err.Error(), StatusCode: formatter.TemplateParseStatus}
	}

	var view versionView
	sv, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err == nil {
		view.Server = serverVersion(sv)
	}
	// Read after the request: that is when the API version is negotiated.
	view.Client = clientVersion{
		Version:           version.Version,
		APIVersion:        api.ClientVersion(),
		DefaultAPIVersion: client.MaxAPIVersion,
		GitCommit:         version.GitCommit,
		GoVersion:         runtime.Version(),
		Os:                runtime.GOOS,
		Arch:              runtime.GOARCH,
		BuildTime:         reformatDate(version.BuildTime),
	}
	tw := tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)
	if terr := execute(tmpl, tw, view); terr != nil && err == nil {
		err = terr
	}
	return err
}

func execute(tmpl *template.Template, tw *tabwriter.Writer, v any) error {
	err := tmpl.Execute(tw, v)
	_, _ = tw.Write([]byte("\n"))
	_ = tw.Flush()
	return err
}

// serverVersion rebuilds the /version body from the client's result, which
// drops the deprecated top-level Engine fields; they are in the Engine
// component's details, and templates written for docker still use them.
func serverVersion(sv client.ServerVersionResult) *serverVersionView {
	v := &serverVersionView{
		Version:       sv.Version,
		APIVersion:    sv.APIVersion,
		MinAPIVersion: sv.MinAPIVersion,
		Os:            sv.Os,
		Arch:          sv.Arch,
		Components:    sv.Components,
		Experimental:  sv.Experimental, //nolint:staticcheck // kept for docker-compatible templates
	}
	v.Platform.Name = sv.Platform.Name
	for _, c := range v.Components {
		if c.Name != "Engine" {
			continue
		}
		d := c.Details
		v.GitCommit, v.GoVersion, v.KernelVersion = d["GitCommit"], d["GoVersion"], d["KernelVersion"]
		if bt, ok := d["BuildTime"]; ok {
			d["BuildTime"] = reformatDate(bt)
			v.BuildTime = d["BuildTime"]
		}
	}
	return v
}

// reformatDate shows an RFC 3339 build time the way docker does; anything
// else is shown as it came.
func reformatDate(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Format(time.ANSIC)
}
