package keel

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	timeType       = reflect.TypeOf(time.Time{})
	untypedMapType = reflect.TypeOf(map[string]any(nil))
)

// SchemaFor derives a JSON Schema (2020-12) for the Go type of v, as encoding/json encodes it.
//
// Struct fields use their `json` names (`json:"-"` and unexported fields are skipped, embedded
// structs are flattened) and a small `keel` tag of comma-separated options:
//
//	Name  string   `json:"name" keel:"required,minLength=1"`
//	Count int      `json:"count" keel:"min=0,max=10"`
//	Kind  string   `json:"kind" keel:"enum=a|b|c"`
//	Email string   `json:"email" keel:"format=email" doc:"Where receipts go."`
//
// Options: required, min, max (numbers), minLength, maxLength, pattern, format, enum (values
// separated by |, parsed as JSON when they are JSON, else strings). A `doc` tag sets
// "description". time.Time is a date-time string, []byte a base64 string.
//
// It returns nil (no schema: "Omitted = true") for types that say nothing: interfaces,
// json.RawMessage and map[string]any. It returns an error for channels, functions, complex
// numbers and recursive types.
func SchemaFor(v any) (json.RawMessage, error) {
	return schemaForType(reflect.TypeOf(v))
}

func schemaForType(t reflect.Type) (json.RawMessage, error) {
	if t == nil || t == rawMessageType || t == untypedMapType || t.Kind() == reflect.Interface {
		return nil, nil
	}
	s, err := typeSchema(t, map[reflect.Type]bool{})
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// object keeps properties in declaration order, so registrations are stable byte for byte.
type object struct {
	keys   []string
	values map[string]any
}

func newObject() *object { return &object{values: map[string]any{}} }

func (o *object) set(key string, value any) {
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = value
}

// MarshalJSON writes the keys in insertion order.
func (o *object) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, key := range o.keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(key)
		v, err := json.Marshal(o.values[key])
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

func typeSchema(t reflect.Type, seen map[reflect.Type]bool) (any, error) {
	switch t {
	case rawMessageType:
		return true, nil
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), seen)
	case reflect.Interface:
		return true, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s := map[string]any{"type": "integer"}
		if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
			s["minimum"] = 0
		}
		return s, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return map[string]any{"type": "string", "contentEncoding": "base64"}, nil
		}
		items, err := typeSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		s := map[string]any{"type": "array", "items": items}
		if t.Kind() == reflect.Array {
			s["minItems"], s["maxItems"] = t.Len(), t.Len()
		}
		return s, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("keel: JSON object keys are strings; cannot describe %s", t)
		}
		values, err := typeSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		if values == true {
			return map[string]any{"type": "object"}, nil
		}
		return map[string]any{"type": "object", "additionalProperties": values}, nil
	case reflect.Struct:
		return structSchema(t, seen)
	}
	return nil, fmt.Errorf("keel: cannot derive a JSON Schema for %s", t)
}

func structSchema(t reflect.Type, seen map[reflect.Type]bool) (any, error) {
	if seen[t] {
		return nil, fmt.Errorf("keel: recursive type %s is not supported", t)
	}
	seen[t] = true
	defer delete(seen, t)
	props := newObject()
	var required []string
	if err := addFields(t, props, &required, seen); err != nil {
		return nil, err
	}
	s := newObject()
	s.set("type", "object")
	s.set("properties", props)
	if len(required) > 0 {
		s.set("required", required)
	}
	return s, nil
}

func addFields(t reflect.Type, props *object, required *[]string, seen map[reflect.Type]bool) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if err := addFields(ft, props, required, seen); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s, err := typeSchema(f.Type, seen)
		if err != nil {
			return fmt.Errorf("%w (field %s.%s)", err, t.Name(), f.Name)
		}
		s, isRequired, err := applyTag(s, f)
		if err != nil {
			return err
		}
		props.set(name, s)
		if isRequired {
			*required = append(*required, name)
		}
	}
	return nil
}

// applyTag adds the `keel` tag options and the `doc` description to a field's schema.
func applyTag(s any, f reflect.StructField) (any, bool, error) {
	options, doc := f.Tag.Get("keel"), f.Tag.Get("doc")
	if options == "" && doc == "" {
		return s, false, nil
	}
	out := map[string]any{}
	switch v := s.(type) {
	case map[string]any:
		for k, x := range v {
			out[k] = x
		}
	case *object:
		for _, k := range v.keys {
			out[k] = v.values[k]
		}
	}
	if doc != "" {
		out["description"] = doc
	}
	required := false
	for _, option := range strings.Split(options, ",") {
		key, value, hasValue := strings.Cut(strings.TrimSpace(option), "=")
		switch {
		case key == "":
		case key == "required" && !hasValue:
			required = true
		case key == "min" || key == "max" || key == "minLength" || key == "maxLength":
			n, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return nil, false, fmt.Errorf("keel: field %s: tag option %q needs a number", f.Name, key)
			}
			out[tagKeywords[key]] = n
		case key == "pattern" || key == "format":
			out[key] = value
		case key == "enum":
			var values []any
			for _, item := range strings.Split(value, "|") {
				var parsed any
				if json.Unmarshal([]byte(item), &parsed) != nil || out["type"] == "string" {
					parsed = item
				}
				values = append(values, parsed)
			}
			out["enum"] = values
		default:
			return nil, false, fmt.Errorf("keel: field %s: unknown keel tag option %q", f.Name, key)
		}
	}
	return out, required, nil
}

var tagKeywords = map[string]string{"min": "minimum", "max": "maximum", "minLength": "minLength", "maxLength": "maxLength"}
