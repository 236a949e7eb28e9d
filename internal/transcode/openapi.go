package transcode

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// OpenAPI describes the set's bindings as an OpenAPI 3 document, for the
// portal: each rule an operation, its path variables and query fields
// parameters, its body and reply schemas from the messages (as proto3
// JSON writes them), its failures problems.
func (s *Set) OpenAPI(title string) *openapi3.T {
	doc := &openapi3.T{OpenAPI: "3.0.3", Info: &openapi3.Info{Title: title, Version: "grpc"},
		Paths: openapi3.NewPaths(), Components: &openapi3.Components{Schemas: openapi3.Schemas{}}}
	g := &schemaGen{schemas: doc.Components.Schemas}
	seen := map[string]int{}
	for _, b := range s.bindings {
		path := openAPIPath(b.tmpl)
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		id := strings.ReplaceAll(string(b.method.Parent().Name())+"_"+string(b.method.Name()), ".", "_")
		if n := seen[id]; n > 0 {
			id = fmt.Sprintf("%s_%d", id, n+1)
		}
		seen[id]++
		op := &openapi3.Operation{OperationID: id, Summary: summary(b.method),
			Tags:        []string{string(b.method.Parent().Name())},
			Description: fmt.Sprintf("gRPC method %s.", b.method.FullName()),
			Responses:   openapi3.NewResponses()}
		bound := map[string]bool{}
		for i, v := range b.tmpl.vars {
			name := strings.Join(v.path, ".")
			bound[pathName(b.vars[i])] = true
			op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
				Name: name, In: "path", Required: true, Schema: g.field(b.vars[i][len(b.vars[i])-1])}})
		}
		switch {
		case b.bodyAll:
			op.RequestBody = jsonBody(g.message(b.method.Input()))
		case b.body != nil:
			bound[pathName(b.body)] = true
			op.RequestBody = jsonBody(g.field(b.body[len(b.body)-1]))
		}
		if !b.bodyAll {
			fields := b.method.Input().Fields()
			for i := range fields.Len() {
				f := fields.Get(i)
				if bound[string(f.Name())] || f.Message() != nil || f.IsMap() {
					continue
				}
				op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: &openapi3.Parameter{
					Name: f.JSONName(), In: "query", Schema: g.field(f)}})
			}
		}
		reply := g.message(b.method.Output())
		if b.responseBody != nil {
			reply = g.field(b.responseBody)
		}
		ok := "OK"
		op.Responses.Set("200", &openapi3.ResponseRef{Value: &openapi3.Response{Description: &ok,
			Content: openapi3.NewContentWithJSONSchemaRef(reply)}})
		failed := "A problem (RFC 9457): the gateway's refusal, or the service's error status"
		op.Responses.Set("default", &openapi3.ResponseRef{Value: &openapi3.Response{Description: &failed,
			Content: openapi3.Content{"application/problem+json": &openapi3.MediaType{Schema: openapi3.NewObjectSchema().NewRef()}}}})
		item.SetOperation(b.verb, op)
	}
	return doc
}

// openAPIPath writes a template as an OpenAPI path: each variable one
// parameter (a multi-segment one too, which OpenAPI cannot say).
func openAPIPath(t *template) string {
	var b strings.Builder
	for i := 0; i < len(t.segs); {
		b.WriteByte('/')
		if v := varAt(t, i); v != nil {
			b.WriteString("{" + strings.Join(v.path, ".") + "}")
			i = v.end
			continue
		}
		switch s := t.segs[i]; s.kind {
		case segLiteral:
			b.WriteString(s.literal)
		default:
			b.WriteString("{segment" + fmt.Sprint(i) + "}")
		}
		i++
	}
	if t.verb != "" {
		b.WriteString(":" + t.verb)
	}
	return b.String()
}

func varAt(t *template, i int) *variable {
	for j := range t.vars {
		if t.vars[j].start == i {
			return &t.vars[j]
		}
	}
	return nil
}

func jsonBody(s *openapi3.SchemaRef) *openapi3.RequestBodyRef {
	return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithContent(openapi3.NewContentWithJSONSchemaRef(s))}
}

// summary is a method's leading comment's first line, when the set
// carries source info (protoc --include_source_info).
func summary(md protoreflect.MethodDescriptor) string {
	c := strings.TrimSpace(md.ParentFile().SourceLocations().ByDescriptor(md).LeadingComments)
	if line, _, _ := strings.Cut(c, "\n"); line != "" {
		return line
	}
	return string(md.Name())
}

// schemaGen writes message schemas into components once each.
type schemaGen struct {
	schemas openapi3.Schemas
}

// wellKnown are the types proto3 JSON writes as something other than an
// object.
var wellKnown = map[protoreflect.FullName]func() *openapi3.Schema{
	"google.protobuf.Timestamp":   func() *openapi3.Schema { return openapi3.NewDateTimeSchema() },
	"google.protobuf.Duration":    func() *openapi3.Schema { return openapi3.NewStringSchema().WithPattern(`^-?[0-9]+(\.[0-9]+)?s$`) },
	"google.protobuf.FieldMask":   func() *openapi3.Schema { return openapi3.NewStringSchema() },
	"google.protobuf.StringValue": func() *openapi3.Schema { return openapi3.NewStringSchema() },
	"google.protobuf.BytesValue":  func() *openapi3.Schema { return openapi3.NewBytesSchema() },
	"google.protobuf.BoolValue":   func() *openapi3.Schema { return openapi3.NewBoolSchema() },
	"google.protobuf.Int32Value":  func() *openapi3.Schema { return openapi3.NewInt32Schema() },
	"google.protobuf.UInt32Value": func() *openapi3.Schema { return openapi3.NewInt64Schema() },
	"google.protobuf.Int64Value":  func() *openapi3.Schema { return openapi3.NewStringSchema().WithFormat("int64") },
	"google.protobuf.UInt64Value": func() *openapi3.Schema { return openapi3.NewStringSchema().WithFormat("uint64") },
	"google.protobuf.FloatValue":  func() *openapi3.Schema { return openapi3.NewFloat64Schema() },
	"google.protobuf.DoubleValue": func() *openapi3.Schema { return openapi3.NewFloat64Schema() },
	"google.protobuf.Struct":      func() *openapi3.Schema { return openapi3.NewObjectSchema() },
	"google.protobuf.Value":       func() *openapi3.Schema { return &openapi3.Schema{} },
	"google.protobuf.ListValue":   func() *openapi3.Schema { return openapi3.NewArraySchema() },
	"google.protobuf.Any":         func() *openapi3.Schema { return openapi3.NewObjectSchema() },
	"google.protobuf.Empty":       func() *openapi3.Schema { return openapi3.NewObjectSchema() },
}

// message is md's schema, by reference to its component.
func (g *schemaGen) message(md protoreflect.MessageDescriptor) *openapi3.SchemaRef {
	if wk := wellKnown[md.FullName()]; wk != nil {
		return wk().NewRef()
	}
	name := string(md.FullName())
	ref := openapi3.NewSchemaRef("#/components/schemas/"+name, nil)
	if _, ok := g.schemas[name]; ok {
		return ref
	}
	obj := openapi3.NewObjectSchema()
	g.schemas[name] = obj.NewRef() // before the fields: a message may hold itself
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		obj.WithPropertyRef(f.JSONName(), g.field(f))
	}
	ref.Value = obj
	return ref
}

// field is a field's schema as proto3 JSON writes it.
func (g *schemaGen) field(f protoreflect.FieldDescriptor) *openapi3.SchemaRef {
	if f.IsMap() {
		return openapi3.NewObjectSchema().WithAdditionalProperties(g.single(f.MapValue()).Value).NewRef()
	}
	s := g.single(f)
	if f.IsList() {
		return openapi3.NewArraySchema().WithItems(s.Value).NewRef()
	}
	return s
}

func (g *schemaGen) single(f protoreflect.FieldDescriptor) *openapi3.SchemaRef {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return g.message(f.Message())
	case protoreflect.StringKind:
		return openapi3.NewStringSchema().NewRef()
	case protoreflect.BytesKind:
		return openapi3.NewBytesSchema().NewRef()
	case protoreflect.BoolKind:
		return openapi3.NewBoolSchema().NewRef()
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return openapi3.NewInt32Schema().NewRef()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return openapi3.NewInt64Schema().WithMin(0).NewRef()
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return openapi3.NewStringSchema().WithFormat("int64").NewRef() // proto3 JSON writes 64-bit integers as strings
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return openapi3.NewFloat64Schema().NewRef()
	case protoreflect.EnumKind:
		vals := f.Enum().Values()
		enum := make([]any, 0, vals.Len())
		for i := range vals.Len() {
			enum = append(enum, string(vals.Get(i).Name()))
		}
		return openapi3.NewStringSchema().WithEnum(enum...).NewRef()
	}
	return (&openapi3.Schema{}).NewRef()
}
