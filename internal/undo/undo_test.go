package undo_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berth-engine/berth/internal/undo"
)

// op pushes three steps and then ends as end says.
func op(log *[]string, end func() error) (err error) {
	var u undo.Stack
	defer u.Unwind(&err)
	for _, s := range []string{"a", "b", "c"} {
		u.Push(func() { *log = append(*log, s) })
	}
	return end()
}

func TestUnwind(t *testing.T) {
	var log []string
	if err := op(&log, func() error { return nil }); err != nil || len(log) != 0 {
		t.Fatalf("success: err %v, ran %v; want no steps", err, log)
	}
	errBoom := errors.New("boom")
	if err := op(&log, func() error { return errBoom }); err != errBoom || !slices.Equal(log, []string{"c", "b", "a"}) {
		t.Fatalf("failure: err %v, ran %v; want the error and c b a", err, log)
	}
}

func TestUnwindPanic(t *testing.T) {
	var log []string
	defer func() {
		if p := recover(); p != "injected" {
			t.Fatalf("recovered %v; want the panic to go on after the steps", p)
		}
		if !slices.Equal(log, []string{"c", "b", "a"}) {
			t.Fatalf("ran %v; want c b a", log)
		}
	}()
	op(&log, func() error { panic("injected") })
}
