// Package transcode serves gRPC methods to REST/JSON clients (stage 16 of
// a route with transcode:, docs/grpc.md): each method's google.api.http
// rules, read from a compiled descriptor set, map an HTTP method and path
// to the method; the request's path variables, query parameters and JSON
// body make its request message, the upstream gets a gRPC call, and its
// reply goes back as JSON (proto3 JSON mapping) or, for a status other
// than OK, as a problem.
package transcode

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Set is the bindings of a descriptor set's services.
type Set struct {
	bindings []*binding
}

// binding is one HTTP rule of a method.
type binding struct {
	verb         string // HTTP method
	tmpl         *template
	vars         [][]protoreflect.FieldDescriptor // each variable's field path
	body         []protoreflect.FieldDescriptor   // nil: no body; empty: "*"
	bodyAll      bool
	responseBody protoreflect.FieldDescriptor
	method       protoreflect.MethodDescriptor
	path         string // the gRPC call's: /package.Service/Method
}

// Rule is one HTTP binding of a method, for docs and the portal.
type Rule struct {
	Verb, Template, Method string
}

// Rules lists the set's bindings.
func (s *Set) Rules() []Rule {
	out := make([]Rule, 0, len(s.bindings))
	for _, b := range s.bindings {
		out = append(out, Rule{Verb: b.verb, Template: b.tmpl.src, Method: string(b.method.FullName())})
	}
	return out
}

// Services are the full names of the services with bindings.
func (s *Set) Services() []string {
	var out []string
	for _, b := range s.bindings {
		if name := string(b.method.Parent().FullName()); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// LoadFile reads a descriptor set file (protoc --descriptor_set_out
// --include_imports, or buf build -o) and binds the methods of services
// (every service with HTTP rules when empty).
func LoadFile(path string, services []string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(data, services)
}

// Load is LoadFile on the file's bytes.
func Load(data []byte, services []string) (*Set, error) {
	var fds descriptorpb.FileDescriptorSet
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(data, &fds); err != nil {
		return nil, fmt.Errorf("not a descriptor set (protoc --descriptor_set_out, buf build -o): %w", err)
	}
	files, err := buildFiles(&fds)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	found := map[string]bool{}
	var errs []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			name := string(sd.FullName())
			if len(services) > 0 && !slices.Contains(services, name) {
				continue
			}
			found[name] = true
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				if err := s.bindMethod(md); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
		return true
	})
	for _, name := range services {
		if !found[name] {
			errs = append(errs, fmt.Sprintf("service %s is not in the descriptor set", name))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if len(s.bindings) == 0 {
		return nil, fmt.Errorf("no method of the services has a google.api.http rule")
	}
	for i, a := range s.bindings {
		for _, b := range s.bindings[:i] {
			if a.verb == b.verb && a.tmpl.src == b.tmpl.src {
				return nil, fmt.Errorf("%s %s is bound to both %s and %s", a.verb, a.tmpl.src, b.method.FullName(), a.method.FullName())
			}
		}
	}
	return s, nil
}

// buildFiles makes the set's files, taking imports the set lacks (the
// well-known types, google/api) from those linked into the gateway.
func buildFiles(fds *descriptorpb.FileDescriptorSet) (*protoregistry.Files, error) {
	files := new(protoregistry.Files)
	pending := slices.Clone(fds.GetFile())
	for len(pending) > 0 {
		var next []*descriptorpb.FileDescriptorProto
		var lastErr error
		for _, fdp := range pending {
			fd, err := (protodesc.FileOptions{AllowUnresolvable: false}).New(fdp, resolver{files})
			if err != nil {
				next, lastErr = append(next, fdp), err
				continue
			}
			if err := files.RegisterFile(fd); err != nil {
				return nil, err
			}
		}
		if len(next) == len(pending) {
			return nil, fmt.Errorf("descriptor set: %w (build it with its imports: protoc --include_imports)", lastErr)
		}
		pending = next
	}
	return files, nil
}

// resolver finds descriptors in the set first, then in the gateway's.
type resolver struct{ own *protoregistry.Files }

func (r resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.own.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (r resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.own.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// bindMethod adds the bindings of md's HTTP rules.
func (s *Set) bindMethod(md protoreflect.MethodDescriptor) error {
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, annotations.E_Http) {
		return nil
	}
	rule, _ := proto.GetExtension(opts, annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		return nil
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return fmt.Errorf("%s streams, and transcoding serves unary methods only: remove its google.api.http rule or the service from services", md.FullName())
	}
	for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		b, err := newBinding(md, r)
		if err != nil {
			return fmt.Errorf("%s: %w", md.FullName(), err)
		}
		s.bindings = append(s.bindings, b)
	}
	return nil
}

func newBinding(md protoreflect.MethodDescriptor, r *annotations.HttpRule) (*binding, error) {
	b := &binding{method: md, path: "/" + string(md.Parent().FullName()) + "/" + string(md.Name())}
	var pattern string
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		b.verb, pattern = "GET", p.Get
	case *annotations.HttpRule_Put:
		b.verb, pattern = "PUT", p.Put
	case *annotations.HttpRule_Post:
		b.verb, pattern = "POST", p.Post
	case *annotations.HttpRule_Delete:
		b.verb, pattern = "DELETE", p.Delete
	case *annotations.HttpRule_Patch:
		b.verb, pattern = "PATCH", p.Patch
	case *annotations.HttpRule_Custom:
		b.verb, pattern = p.Custom.GetKind(), p.Custom.GetPath()
	default:
		return nil, fmt.Errorf("an HTTP rule without a method and path")
	}
	t, err := parseTemplate(pattern)
	if err != nil {
		return nil, err
	}
	b.tmpl = t
	in := md.Input()
	for _, v := range t.vars {
		fields, err := fieldPath(in, v.path)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", b.verb, pattern, err)
		}
		if last := fields[len(fields)-1]; last.IsList() || last.Message() != nil {
			return nil, fmt.Errorf("%s %s: path variable %s must be a single scalar field", b.verb, pattern, strings.Join(v.path, "."))
		}
		b.vars = append(b.vars, fields)
	}
	switch body := r.GetBody(); body {
	case "":
	case "*":
		b.bodyAll = true
	default:
		if b.body, err = fieldPath(in, strings.Split(body, ".")); err != nil {
			return nil, fmt.Errorf("%s %s: body: %w", b.verb, pattern, err)
		}
	}
	if rb := r.GetResponseBody(); rb != "" {
		f := md.Output().Fields().ByName(protoreflect.Name(rb))
		if f == nil {
			return nil, fmt.Errorf("%s %s: response_body: %s has no field %s", b.verb, pattern, md.Output().FullName(), rb)
		}
		b.responseBody = f
	}
	return b, nil
}

// fieldPath resolves a dotted path of field names (proto names, or JSON
// names) in message md.
func fieldPath(md protoreflect.MessageDescriptor, path []string) ([]protoreflect.FieldDescriptor, error) {
	var out []protoreflect.FieldDescriptor
	for i, name := range path {
		if md == nil {
			return nil, fmt.Errorf("field %s: %s is not a message", strings.Join(path, "."), strings.Join(path[:i], "."))
		}
		f := md.Fields().ByName(protoreflect.Name(name))
		if f == nil {
			f = md.Fields().ByJSONName(name)
		}
		if f == nil {
			return nil, fmt.Errorf("%s has no field %s", md.FullName(), name)
		}
		if i < len(path)-1 && f.IsList() {
			return nil, fmt.Errorf("field %s: %s is repeated", strings.Join(path, "."), name)
		}
		out = append(out, f)
		md = f.Message()
		if f.IsMap() {
			md = nil
		}
	}
	return out, nil
}

// find is the binding of a request, and its path variables' values.
func (s *Set) find(verb, escapedPath string) (*binding, []string, bool) {
	pathMatched := false
	for _, b := range s.bindings {
		vals, ok := b.tmpl.match(escapedPath)
		if !ok {
			continue
		}
		pathMatched = true
		if b.verb == verb {
			return b, vals, true
		}
	}
	return nil, nil, pathMatched
}
