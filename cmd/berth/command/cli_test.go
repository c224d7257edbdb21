package command

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDaemonHostPrecedence(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
	t.Setenv(HostEnv, "")
	c := &Cli{}
	if got := c.DaemonHost(); got != DefaultHost {
		t.Errorf("default: %s (DOCKER_HOST must be ignored)", got)
	}
	t.Setenv(HostEnv, "unix:///tmp/env.sock")
	if got := c.DaemonHost(); got != "unix:///tmp/env.sock" {
		t.Errorf("env: %s", got)
	}
	c.Host = "tcp://127.0.0.1:2375"
	if got := c.DaemonHost(); got != c.Host {
		t.Errorf("flag: %s", got)
	}
}

func TestValidateHost(t *testing.T) {
	for _, h := range []string{"unix:///run/berth.sock", "tcp://127.0.0.1:2375"} {
		if err := ValidateHost(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	for _, h := range []string{"/run/berth.sock", "unix://", "ssh://host", "npipe:////./pipe/x"} {
		if ValidateHost(h) == nil {
			t.Errorf("%s accepted", h)
		}
	}
}

func TestExitCode(t *testing.T) {
	if ExitCode(nil) != 0 || ExitCode(errors.New("x")) != 1 {
		t.Error("plain errors exit 1")
	}
	wrapped := fmt.Errorf("ctx: %w", StatusError{Status: "s", StatusCode: 64})
	if ExitCode(wrapped) != 64 {
		t.Error("StatusError code lost through wrapping")
	}
}

func TestConfirm(t *testing.T) {
	for in, want := range map[string]bool{"y\n": true, " Y \n": true, "yes\n": false, "\n": false, "": false} {
		var out bytes.Buffer
		if got := Confirm(strings.NewReader(in), &out, "Sure?"); got != want {
			t.Errorf("%q: %v", in, got)
		}
		if out.String() != "Sure? [y/N] " {
			t.Errorf("prompt %q", out.String())
		}
	}
}
