package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// TestSDKClient drives berthd with the Docker Go SDK, as the berth CLI and
// third-party tools do: it negotiates the API version down from its own.
func TestSDKClient(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOpts{maxVolumes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cli, err := client.New(client.WithHost(d.host()))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	ping, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if ping.APIVersion != apiVersion || ping.OSType != "linux" || ping.Experimental {
		t.Errorf("Ping = %+v, want API %s, linux, not experimental", ping, apiVersion)
	}
	if ping.SwarmStatus == nil || ping.SwarmStatus.NodeState != "inactive" {
		t.Errorf("Ping swarm status %+v, want inactive", ping.SwarmStatus)
	}
	if v := cli.ClientVersion(); v != apiVersion {
		t.Errorf("negotiated API version %s, want %s", v, apiVersion)
	}

	created, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "sdk-vol", Labels: map[string]string{"via": "sdk"}})
	if err != nil {
		t.Fatalf("VolumeCreate: %v", err)
	}
	if created.Volume.Name != "sdk-vol" || created.Volume.Driver != "local" || created.Volume.Labels["via"] != "sdk" {
		t.Errorf("VolumeCreate = %+v", created.Volume)
	}
	anon, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{})
	if err != nil {
		t.Fatalf("anonymous VolumeCreate: %v", err)
	}
	if !hex64.MatchString(anon.Volume.Name) {
		t.Errorf("anonymous volume name %q", anon.Volume.Name)
	}

	list, err := cli.VolumeList(ctx, client.VolumeListOptions{})
	if err != nil {
		t.Fatalf("VolumeList: %v", err)
	}
	var names []string
	for _, v := range list.Items {
		names = append(names, v.Name)
	}
	if !sameSet(names, []string{"sdk-vol", anon.Volume.Name}) {
		t.Errorf("VolumeList = %v", names)
	}
	list, err = cli.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", "via=sdk")})
	if err != nil {
		t.Fatalf("VolumeList with filter: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "sdk-vol" {
		t.Errorf("VolumeList label=via=sdk = %+v", list.Items)
	}

	insp, err := cli.VolumeInspect(ctx, "sdk-vol", client.VolumeInspectOptions{})
	if err != nil || insp.Volume.Mountpoint != created.Volume.Mountpoint {
		t.Errorf("VolumeInspect = %+v, %v", insp.Volume, err)
	}
	_, err = cli.VolumeInspect(ctx, "nosuch", client.VolumeInspectOptions{})
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("VolumeInspect nosuch: %v, want a not-found error", err)
	}

	// The quota refusal is a permission-denied error with the daemon's message.
	if _, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "third"}); err != nil {
		t.Fatalf("VolumeCreate third: %v", err)
	}
	_, err = cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "fourth"})
	if !cerrdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), quotaMessage(3, 3)) {
		t.Errorf("VolumeCreate over quota: %v, want a permission-denied error with %q", err, quotaMessage(3, 3))
	}
	_, err = cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "a//b"})
	if !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("VolumeCreate a//b: %v, want an invalid-argument error", err)
	}

	if _, err := cli.VolumeRemove(ctx, "sdk-vol", client.VolumeRemoveOptions{}); err != nil {
		t.Fatalf("VolumeRemove: %v", err)
	}
	if _, err := cli.VolumeRemove(ctx, "sdk-vol", client.VolumeRemoveOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("VolumeRemove of a removed volume: %v, want not found", err)
	}
	if _, err := cli.VolumeRemove(ctx, "sdk-vol", client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Errorf("forced VolumeRemove of a missing volume: %v", err)
	}
	// The freed slot is usable.
	if _, err := cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "fourth"}); err != nil {
		t.Errorf("VolumeCreate after remove: %v", err)
	}
	d.expectQuota(3, 3)
}
