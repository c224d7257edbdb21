package errclass

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
)

func TestClassAndIdentity(t *testing.T) {
	errGone := New("gone", cerrdefs.ErrNotFound)
	err := fmt.Errorf("get x: %w", errGone)
	if !errors.Is(err, errGone) || !cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
		t.Fatalf("classification lost: %v", err)
	}
	if err.Error() != "get x: gone" {
		t.Fatalf("message %q", err)
	}
}
