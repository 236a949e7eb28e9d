package config

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Schema returns a JSON Schema (draft 2020-12) of the config file, built
// from the same struct tags the decoder reads, so the two cannot drift;
// an authenticator is one of types' settings.
func Schema(o LoadOptions) ([]byte, error) {
	s := schemer{o.registries()}.of(reflect.TypeOf(Config{}))
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://rampart.dev/schema/config-v1.json"
	s["title"] = "Rampart gateway config"
	return json.MarshalIndent(s, "", "  ")
}

var (
	durationType = reflect.TypeOf(Duration(0))
	sizeType     = reflect.TypeOf(Size(0))
	timeType     = reflect.TypeOf(Time{})
)

type schemer struct{ types map[string]SettingsTypes }

func (sc schemer) of(t reflect.Type) map[string]any {
	if u, ok := unionOf(t); ok {
		return sc.union(t, u)
	}
	switch t {
	case durationType:
		return map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "A Go duration such as 250ms, 5s, 2m."}
	case sizeType:
		return map[string]any{"type": []string{"string", "integer"}, "pattern": `^[0-9]+ ?(B|KiB|MiB|GiB)?$`, "description": "Bytes: 512, 32KiB, 1MiB, 1GiB."}
	case secretType:
		return map[string]any{"type": "string", "pattern": "^(env|file):.+$", "description": "env:NAME or file:PATH; never inline."}
	case timeType:
		return map[string]any{"type": "string", "pattern": `^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$`, "description": "A date (2026-06-01, midnight UTC) or an RFC 3339 time."}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sc.of(t.Elem())
	case reflect.Struct:
		props := map[string]any{}
		required := sc.properties(t, props)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	case reflect.Slice:
		return map[string]any{"type": "array", "items": sc.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": sc.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// properties adds t's keys (an inline struct's among them) to props and
// returns the required ones.
func (sc schemer) properties(t reflect.Type, props map[string]any) (required []string) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, opts, inline := yamlKey(sf)
		if inline && sf.Type.Kind() == reflect.Struct {
			required = append(required, sc.properties(sf.Type, props)...)
			continue
		}
		if inline && sf.Type == transformsType {
			types := sc.types[sf.Tag.Get("extensions")]
			for _, name := range types.Names() {
				sc.properties(types.structOf(name), props)
			}
			continue
		}
		if name == "" {
			continue
		}
		p := sc.of(sf.Type)
		if doc := sf.Tag.Get("doc"); doc != "" {
			p["description"] = doc
		}
		if enum := sf.Tag.Get("enum"); enum != "" {
			p["enum"] = strings.Split(enum, "|")
		}
		props[name] = p
		if opts == "required" {
			required = append(required, name)
		}
	}
	return required
}

// union is one of its types, each an object of the union's own keys and
// that type's.
func (sc schemer) union(t reflect.Type, u union) map[string]any {
	var one []any
	types := sc.types[u.registry]
	for _, name := range types.Names() {
		props := map[string]any{}
		required := sc.properties(t, props)
		required = append(required, sc.properties(types.structOf(name), props)...)
		props[u.key] = map[string]any{"const": name}
		one = append(one, map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false})
	}
	return map[string]any{"oneOf": one}
}
