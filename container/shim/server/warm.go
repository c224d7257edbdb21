package server

import (
	"encoding/json"
	"reflect"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	shim "github.com/berth-engine/berth/container/shim/internal/proto"
)

// warmJSON builds encoding/json's per-type caches for what a shim decodes
// and encodes on a container's start path while a warm shim waits for
// work: the runtime spec, its options, the protocol's requests and replies,
// and the libcontainer config and state it sends to the container's init
// and saves. The first decode of a runtime spec in a process costs 3–6 ms
// on these machines and 0.3 ms once the caches exist, the first encode of
// a libcontainer config 2–2.6 ms against 0.2–0.3 ms; without this, every
// `docker run` paid them. The caches are per type, so a value with every
// pointer, slice and map filled in is marshalled and decoded once.
func warmJSON() {
	for _, v := range warmTypes() {
		_ = roundTrip(v) // best effort: a real decode builds what is missing
	}
}

// warmTypes returns a new value of each type warmJSON warms.
func warmTypes() []any {
	return []any{
		&specs.Spec{}, &shim.Options{}, &shim.Request{}, &shim.Response{}, &shim.Ready{},
		&configs.Config{}, &libcontainer.State{},
	}
}

// roundTrip populates v, encodes it and decodes the result into a new value.
func roundTrip(v any) error {
	populate(reflect.ValueOf(v).Elem(), 0)
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, reflect.New(reflect.TypeOf(v).Elem()).Interface())
}

// populate gives every pointer, slice and map reachable from v one
// element, so that a JSON round trip visits every type under v. Depth is
// bounded in case a type refers to itself.
func populate(v reflect.Value, depth int) {
	if depth > 16 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		populate(v.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				populate(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte and json.RawMessage: no types below
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		populate(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		populate(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}
