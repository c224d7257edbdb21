package opts

import (
	"testing"
)

func TestFilterOpt(t *testing.T) {
	f := NewFilterOpt()
	for _, v := range []string{" Name = foo ", "label=a=b", "label=c", ""} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	got := f.Value()
	if !got["name"]["foo"] || !got["label"]["a=b"] || !got["label"]["c"] || len(got) != 2 {
		t.Fatalf("filters = %v", got)
	}
	if s := f.String(); s != "label=a=b label=c name=foo" {
		t.Errorf("String() = %q", s)
	}
	err := f.Set("dangling")
	if err == nil || err.Error() != "bad format of filter (expected name=value)" {
		t.Errorf("Set without '=': %v", err)
	}
}

func TestLabelOpt(t *testing.T) {
	l := NewLabelOpt()
	if l.Value() != nil {
		t.Errorf("unset labels should be nil, got %v", l.Value())
	}
	for _, v := range []string{"a=b", "flag", "c=d=e"} {
		if err := l.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := map[string]string{"a": "b", "flag": "", "c": "d=e"}
	got := l.Value()
	if len(got) != len(want) {
		t.Fatalf("labels = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("labels[%q] = %q, want %q", k, got[k], v)
		}
	}
	if err := l.Set("=x"); err == nil || err.Error() != "invalid label '=x': empty name" {
		t.Errorf("empty key: %v", err)
	}
}

func TestMapOpt(t *testing.T) {
	m := NewMapOpt()
	if err := m.Set("=x"); err != nil {
		t.Fatalf("map opts take anything: %v", err)
	}
	_ = m.Set("type=tmpfs")
	if got := m.Value(); got["type"] != "tmpfs" || got[""] != "x" {
		t.Errorf("opts = %v", got)
	}
	if m.Type() != "map" || NewLabelOpt().Type() != "list" {
		t.Errorf("types shown in --help changed")
	}
}
