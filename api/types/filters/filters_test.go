package filters

import "testing"

func TestParseBothForms(t *testing.T) {
	for _, in := range []string{`{"name":{"a":true}}`, `{"name":["a"]}`} {
		a, err := Parse(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !a.ExactMatch("name", "a") || a.ExactMatch("name", "b") {
			t.Errorf("%s: wrong match", in)
		}
	}
	if _, err := Parse(`{bad`); err == nil {
		t.Error("malformed filters accepted")
	}
}

func TestValidateNamesKey(t *testing.T) {
	a, _ := Parse(`{"bogus":{"x":true}}`)
	err := a.Validate("name")
	if err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Fatalf("err = %v", err)
	}
}

func TestMatchKVList(t *testing.T) {
	a := Args{}
	a.Add("label", "env")
	a.Add("label", "tier=db")
	if !a.MatchKVList("label", map[string]string{"env": "x", "tier": "db"}) {
		t.Error("should match")
	}
	if a.MatchKVList("label", map[string]string{"env": "x", "tier": "web"}) {
		t.Error("wrong value matched")
	}
}

func TestBool(t *testing.T) {
	a := Args{}
	a.Add("dangling", "1")
	if v, err := a.Bool("dangling", false); err != nil || !v {
		t.Fatalf("got %v %v", v, err)
	}
	a = Args{}
	a.Add("dangling", "maybe")
	if _, err := a.Bool("dangling", false); err == nil {
		t.Fatal("non-boolean accepted")
	}
}
