package keel

import (
	"encoding/json"
	"testing"
	"time"
)

type Address struct {
	City string `json:"city" keel:"required,minLength=1"`
}

type Base struct {
	ID string `json:"id" keel:"required"`
}

type Order struct {
	Base
	Count    int             `json:"count" keel:"min=1,max=10"`
	Kind     string          `json:"kind,omitempty" keel:"enum=a|b" doc:"Which kind."`
	Price    float64         `json:"price"`
	Tags     []string        `json:"tags"`
	Ship     *Address        `json:"ship"`
	Labels   map[string]int  `json:"labels"`
	When     time.Time       `json:"when"`
	Raw      json.RawMessage `json:"raw"`
	Extra    map[string]any  `json:"extra"`
	Skipped  string          `json:"-"`
	internal string          //nolint:unused // unexported: skipped
	Default  bool
	Blob     []byte             `json:"blob"`
	Pair     [2]uint8           `json:"pair"`
	Nested   map[string]Address `json:"nested"`
}

func TestSchemaForDerivesObjectsFromStructTags(t *testing.T) {
	s, err := SchemaFor(Order{})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, string(s), `{"type":"object","properties":{
		"id":{"type":"string"},
		"count":{"type":"integer","minimum":1,"maximum":10},
		"kind":{"type":"string","enum":["a","b"],"description":"Which kind."},
		"price":{"type":"number"},
		"tags":{"type":"array","items":{"type":"string"}},
		"ship":{"type":"object","properties":{"city":{"type":"string","minLength":1}},"required":["city"]},
		"labels":{"type":"object","additionalProperties":{"type":"integer"}},
		"when":{"type":"string","format":"date-time"},
		"raw":true,
		"extra":{"type":"object"},
		"Default":{"type":"boolean"},
		"blob":{"type":"string","contentEncoding":"base64"},
		"pair":{"type":"array","items":{"type":"integer","minimum":0},"minItems":2,"maxItems":2},
		"nested":{"type":"object","additionalProperties":{"type":"object","properties":{"city":{"type":"string","minLength":1}},"required":["city"]}}},
		"required":["id"]}`)
}

func TestSchemaForSaysNothingForUntypedValues(t *testing.T) {
	for _, v := range []any{nil, json.RawMessage(nil), map[string]any(nil)} {
		if s, err := SchemaFor(v); s != nil || err != nil {
			t.Fatalf("%T: got %s %v, want no schema", v, s, err)
		}
	}
	if s, _ := SchemaFor(""); string(s) != `{"type":"string"}` {
		t.Fatalf("string: %s", s)
	}
}

type Node struct {
	Next *Node `json:"next"`
}

func TestSchemaForRefusesRecursiveAndUnencodableTypes(t *testing.T) {
	for _, v := range []any{Node{}, make(chan int), map[int]string{}, struct {
		X int `keel:"bogus"`
	}{}} {
		if _, err := SchemaFor(v); err == nil {
			t.Fatalf("%T: want an error", v)
		}
	}
}
