package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds the size of a config file.
const MaxFileBytes = 4 << 20

// decoder walks a yaml.Node tree into config structs, keeping every
// value's position and collecting every error instead of stopping at the
// first. yaml's own Node.Decode cannot reject unknown keys (go-yaml#460).
type decoder struct {
	file      string
	data      []byte
	errs      Errors
	positions map[string]Pos
	scalars   map[string]scalarLayout
	secrets   []SecretAt
	aliases   int
	// types are the types of unions this load accepts, by registry.
	types map[string]SettingsTypes
	// unreadable is set when the file is not YAML at all; validating the
	// empty result would only add noise.
	unreadable bool
}

// SecretAt is a secret the config names, and the setting naming it.
type SecretAt struct {
	Path   string
	Secret *Secret
}

// maxAliases bounds alias expansion (billion-laughs style configs).
const maxAliases = 1000

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Pos: d.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

// parse decodes data into a Config without semantic validation.
func parse(file string, data []byte, o LoadOptions) (*Config, *decoder) {
	d := newDecoder(file, data, o)
	cfg := &Config{File: file, positions: d.positions, scalars: d.scalars}
	d.positions[""] = Pos{File: file, Line: 1, Col: 1}
	if len(data) > MaxFileBytes {
		d.errs = append(d.errs, &FieldError{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: fmt.Sprintf("config file is larger than %d bytes", MaxFileBytes)})
		d.unreadable = true
		return cfg, d
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		d.unreadable = true
		if errors.Is(err, io.EOF) {
			d.errs = append(d.errs, &FieldError{Pos: Pos{File: file, Line: 1, Col: 1}, Msg: "config file is empty"})
			return cfg, d
		}
		d.errs = append(d.errs, syntaxError(file, err))
		return cfg, d
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.errorf(&extra, "", "a config file holds one YAML document; remove the extra document")
	} else if !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, syntaxError(file, err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	return cfg, d
}

func newDecoder(file string, data []byte, o LoadOptions) *decoder {
	return &decoder{file: file, data: data, positions: map[string]Pos{}, scalars: map[string]scalarLayout{},
		types: o.registries()}
}

// syntaxError turns a yaml parse error ("yaml: line 3: ...") into a
// positioned FieldError.
func syntaxError(file string, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &FieldError{Pos: Pos{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + msg}
}

var (
	posType    = reflect.TypeOf(Pos{})
	scalarType = reflect.TypeOf((*scalar)(nil)).Elem()
	secretType = reflect.TypeOf(Secret{})
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		d.aliases++
		if d.aliases > maxAliases {
			d.errorf(n, path, "too many aliases")
			return
		}
		n = n.Alias
	}
	d.positions[path] = d.pos(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit null leaves the zero value
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a single value, found %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(scalar).decodeScalar(n.Value); err != nil {
			d.errorf(n, path, "%v", err)
			return
		}
		if v.Type() == secretType {
			d.secrets = append(d.secrets, SecretAt{path, v.Addr().Interface().(*Secret)})
		}
		return
	}
	if u, ok := unionOf(v.Type()); ok {
		d.decodeUnion(n, v, path, u)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, found %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, found %s", kindName(n))
			return
		}
		v.SetString(n.Value)
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle|yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			d.scalars[path] = scalarLayout{style: n.Style, indent: d.blockIndent(n)}
		}
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil || (n.Value != "true" && n.Value != "false") {
			d.errorf(n, path, "expected true or false, found %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, path, "expected an integer, found %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, path, "expected a number, found %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		panic("config: unsupported field kind " + v.Kind().String())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of keys, found %s", kindName(n))
		return
	}
	fields := structFields(v.Type())
	ext, hasExt := extensionsOf(v.Type())
	var extTypes SettingsTypes
	names := fields.names
	if hasExt {
		extTypes = d.types[ext.registry]
		names = append(slices.Clip(names), extTypes.keys()...)
	}
	var extNodes map[string]*yaml.Node // by type: its keys in this section
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		fpath := join(path, key)
		if seen[key] {
			d.errorf(k, fpath, "duplicate key %q", key)
			continue
		}
		seen[key] = true
		f, ok := fields.byName[key]
		if !ok {
			if typ := extTypes.owner(key); typ != "" {
				if extNodes == nil {
					extNodes = map[string]*yaml.Node{}
				}
				if extNodes[typ] == nil {
					extNodes[typ] = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
				}
				extNodes[typ].Content = append(extNodes[typ].Content, k, val)
				continue
			}
			if key == "<<" {
				d.errorf(k, path, "YAML merge keys are not supported; write the keys out")
				continue
			}
			msg := fmt.Sprintf("unknown key %q", key)
			if s := closest(key, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(k, path, "%s", msg)
			continue
		}
		d.positions[fpath+"#key"] = d.pos(k)
		d.decode(val, v.FieldByIndex(f.index), fpath)
	}
	if len(extNodes) > 0 {
		set := Transforms{}
		for _, typ := range slices.Sorted(maps.Keys(extNodes)) {
			settings := extTypes[typ]()
			d.decodeStruct(extNodes[typ], reflect.ValueOf(settings).Elem(), path)
			set[typ] = settings
		}
		v.Field(ext.index).Set(reflect.ValueOf(set))
	}
	for _, f := range fields.list {
		if f.required && !seen[f.name] {
			d.errorf(n, join(path, f.name), "required key %q is missing", f.name)
		}
	}
	if fields.pos >= 0 {
		v.Field(fields.pos).Set(reflect.ValueOf(d.pos(n)))
	}
}

// union describes a struct whose keys depend on its type (see
// Settings): the registry its types come from, the key naming the type,
// and the fields of that key and of the settings.
type union struct {
	registry, key string
	fallback      string // the type when key is absent; "" makes it required
	keyField      []int
	settings      int
}

var settingsType = reflect.TypeFor[Settings]()

// unionOf reports whether t is a union.
func unionOf(t reflect.Type) (union, bool) {
	if t.Kind() != reflect.Struct {
		return union{}, false
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type != settingsType {
			continue
		}
		registry, key, ok := strings.Cut(sf.Tag.Get("types"), ",")
		if !ok {
			panic("config: " + t.Name() + "." + sf.Name + " lacks its types tag")
		}
		key, fallback, _ := strings.Cut(key, ",")
		f, ok := structFields(t).byName[key]
		if !ok {
			panic("config: " + t.Name() + " has no key " + key)
		}
		return union{registry: registry, key: key, fallback: fallback, keyField: f.index, settings: i}, true
	}
	return union{}, false
}

// decodeUnion reads the type key, then each other key into the union's
// own fields (as format of a sink) or the settings of that type. A key
// another type has is reported as not applying to this one, with the
// keys that do.
func (d *decoder) decodeUnion(n *yaml.Node, v reflect.Value, path string, u union) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of keys, found %s", kindName(n))
		return
	}
	types := d.types[u.registry]
	tpath := join(path, u.key)
	typeAt := -1
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == u.key {
			typeAt = i
			break
		}
	}
	typeField := v.FieldByIndex(u.keyField)
	typeNode := n
	switch {
	case typeAt >= 0:
		typeNode = n.Content[typeAt+1]
		d.positions[tpath+"#key"] = d.pos(n.Content[typeAt])
		d.decode(typeNode, typeField, tpath)
	case u.fallback != "":
		typeField.SetString(u.fallback)
	default:
		d.errorf(n, tpath, "required key %q is missing", u.key)
		return
	}
	name := typeField.String()
	newSettings, ok := types[name]
	if !ok {
		switch {
		case name == "":
		case len(types) == 0:
			d.errorf(typeNode, tpath, "%s %q is not available: this load was given no %s types", u.key, name, u.registry)
		default:
			d.errorf(typeNode, tpath, "%q is not one of %s", name, strings.Join(types.Names(), ", "))
		}
		return
	}
	settings := newSettings()
	sv := reflect.ValueOf(settings)
	if sv.Kind() != reflect.Pointer || sv.Elem().Kind() != reflect.Struct {
		panic("config: the settings of " + u.registry + " type " + name + " are not a pointer to a struct")
	}
	v.Field(u.settings).Set(sv)
	common, own := structFields(v.Type()), structFields(sv.Elem().Type())
	rest := *n
	rest.Content = nil
	seen := map[string]bool{u.key: true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, isCommon := common.byName[k.Value]
		switch {
		case i == typeAt:
			continue
		case seen[k.Value] && isCommon:
			d.errorf(k, join(path, k.Value), "duplicate key %q", k.Value)
			continue
		case isCommon:
			seen[k.Value] = true
			d.positions[join(path, k.Value)+"#key"] = d.pos(k)
			d.decode(val, v.FieldByIndex(f.index), join(path, k.Value))
			continue
		case own.byName[k.Value].index == nil && types.owner(k.Value) != "":
			d.errorf(k, join(path, k.Value), "%s does not apply to %s %s, %s", k.Value, u.key, name, own.describe())
			continue
		}
		rest.Content = append(rest.Content, k, val)
	}
	for _, f := range common.list {
		if f.required && !seen[f.name] {
			d.errorf(n, join(path, f.name), "required key %q is missing", f.name)
		}
	}
	d.decodeStruct(&rest, sv.Elem(), path)
	if pos := common.pos; pos >= 0 {
		v.Field(pos).Set(reflect.ValueOf(d.pos(n)))
	}
}

// describe says which keys a type's settings have.
func (fs fieldSet) describe() string {
	if len(fs.names) == 0 {
		return "which has no keys of its own"
	}
	return "whose keys are: " + strings.Join(fs.names, ", ")
}

// extension is a struct's field of Transforms: where the keys of the
// types of a registry go.
type extension struct {
	registry string
	index    int
}

var transformsType = reflect.TypeFor[Transforms]()

// extensionsOf reports whether t has a field of Transforms.
func extensionsOf(t reflect.Type) (extension, bool) {
	for i := 0; i < t.NumField(); i++ {
		if sf := t.Field(i); sf.Type == transformsType {
			return extension{registry: sf.Tag.Get("extensions"), index: i}, true
		}
	}
	return extension{}, false
}

// structOf is the struct of the settings of type name.
func (t SettingsTypes) structOf(name string) reflect.Type { return reflect.TypeOf(t[name]()).Elem() }

// owner is the type whose settings have key, or "".
func (t SettingsTypes) owner(key string) string {
	for _, name := range t.Names() {
		if _, ok := structFields(t.structOf(name)).byName[key]; ok {
			return name
		}
	}
	return ""
}

// keys lists the keys of every type.
func (t SettingsTypes) keys() []string {
	var out []string
	for _, name := range t.Names() {
		out = append(out, structFields(t.structOf(name)).names...)
	}
	return out
}

// Names lists the types, sorted.
func (t SettingsTypes) Names() []string { return slices.Sorted(maps.Keys(t)) }

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, found %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(n.Content)/2))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, path, "map keys must be non-empty strings")
			continue
		}
		key := reflect.ValueOf(k.Value)
		epath := join(path, k.Value)
		if v.MapIndex(key).IsValid() {
			d.errorf(k, epath, "duplicate key %q", k.Value)
			continue
		}
		d.positions[epath+"#key"] = d.pos(k)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, epath)
		v.SetMapIndex(key, elem)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type field struct {
	name     string
	index    []int // for reflect.Value.FieldByIndex: an inline struct's fields are its parent's
	required bool
}

type fieldSet struct {
	list   []field
	byName map[string]field
	names  []string
	pos    int
}

func structFields(t reflect.Type) fieldSet {
	fs := fieldSet{byName: map[string]field{}, pos: -1}
	fs.add(t, nil)
	return fs
}

// add lists t's keys, those of a struct tagged yaml:",inline" among them.
func (fs *fieldSet) add(t reflect.Type, parent []int) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type == posType && sf.Name == "Pos" {
			if parent == nil {
				fs.pos = i
			}
			continue
		}
		name, opts, inline := yamlKey(sf)
		index := append(slices.Clip(parent), i)
		if inline && sf.Type.Kind() == reflect.Struct {
			fs.add(sf.Type, index)
			continue
		}
		if name == "" || !sf.IsExported() {
			continue
		}
		f := field{name: name, index: index, required: opts == "required"}
		fs.list = append(fs.list, f)
		fs.byName[name] = f
		fs.names = append(fs.names, name)
	}
}

// yamlKey reads a field's yaml tag: its key (empty for none), its
// options, and whether its keys are its parent's (",inline").
func yamlKey(sf reflect.StructField) (name, opts string, inline bool) {
	tag := sf.Tag.Get("yaml")
	if tag == "-" {
		return "", "", false
	}
	name, opts, _ = strings.Cut(tag, ",")
	return name, opts, name == "" && opts == "inline"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return describe(n)
	}
	return "an unsupported node"
}

func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func resolvePath(baseDir, p string) string {
	if filepath.IsAbs(p) || baseDir == "" {
		return p
	}
	return filepath.Join(baseDir, p)
}

// scalarLayout is how a string scalar sits in the file, so that a
// position inside its text (a CEL expression's error) can be mapped back.
type scalarLayout struct {
	style  yaml.Style
	indent int // block scalars: the column (0-based) their lines start at
}

// blockIndent returns the indentation of a block scalar's first content
// line, or 0.
func (d *decoder) blockIndent(n *yaml.Node) int {
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		return 0
	}
	lines := bytes.SplitN(d.data, []byte("\n"), n.Line+2)
	if len(lines) <= n.Line {
		return 0
	}
	line := lines[n.Line] // the line after the indicator
	return len(line) - len(bytes.TrimLeft(line, " "))
}

// A Key is one key of a settings struct, with its doc string.
type Key struct{ Name, Doc string }

// Keys lists the keys of s's struct as the decoder reads them, for tests
// and docs that hold a type's page to its keys.
func Keys(s Settings) []Key {
	t := reflect.TypeOf(s).Elem()
	var out []Key
	for _, f := range structFields(t).list {
		out = append(out, Key{f.name, t.FieldByIndex(f.index).Tag.Get("doc")})
	}
	return out
}
