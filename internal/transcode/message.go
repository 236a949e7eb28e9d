package transcode

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// requestError is a request that does not make a request message.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{fmt.Sprintf(format, args...)}
}

// message makes the method's request message from the path variables,
// the query and the JSON body.
func (b *binding) message(vals []string, rawQuery string, body []byte) (*dynamicpb.Message, error) {
	msg := dynamicpb.NewMessage(b.method.Input())
	switch {
	case b.bodyAll:
		if err := unmarshalJSON(body, msg); err != nil {
			return nil, err
		}
	case b.body != nil:
		if err := unmarshalJSON(wrapBody(b.body, body), msg); err != nil {
			return nil, err
		}
	case len(strings.TrimSpace(string(body))) > 0:
		return nil, badRequest("%s %s takes no body", b.verb, b.tmpl.src)
	}
	bound := map[string]bool{}
	for i, fields := range b.vars {
		if err := setScalar(msg, fields, vals[i]); err != nil {
			return nil, badRequest("path segment %q: %v", vals[i], err)
		}
		bound[pathName(fields)] = true
	}
	if b.bodyAll {
		if rawQuery != "" {
			return nil, badRequest("%s %s takes its fields from the body: send no query parameters", b.verb, b.tmpl.src)
		}
		return msg, nil
	}
	if b.body != nil {
		bound[pathName(b.body)] = true
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed")
	}
	for key, values := range q {
		fields, err := fieldPath(b.method.Input(), strings.Split(key, "."))
		if err != nil {
			return nil, badRequest("query parameter %s: %v", key, err)
		}
		for name := range bound {
			if name == pathName(fields) || strings.HasPrefix(pathName(fields), name+".") {
				return nil, badRequest("query parameter %s sets a field the path or body already sets", key)
			}
		}
		last := fields[len(fields)-1]
		if last.Message() != nil || last.IsMap() {
			return nil, badRequest("query parameter %s names a message field: give its fields, as %s.NAME", key, key)
		}
		if !last.IsList() && len(values) > 1 {
			return nil, badRequest("query parameter %s is sent %d times, and its field holds one value", key, len(values))
		}
		for _, v := range values {
			if err := setScalar(msg, fields, v); err != nil {
				return nil, badRequest("query parameter %s: %v", key, err)
			}
		}
	}
	return msg, nil
}

func pathName(fields []protoreflect.FieldDescriptor) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = string(f.Name())
	}
	return strings.Join(names, ".")
}

// unmarshalJSON merges a JSON body into msg (proto3 JSON mapping).
func unmarshalJSON(body []byte, msg *dynamicpb.Message) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(body, msg); err != nil {
		return badRequest("the body is not the JSON this operation takes: %v", cleanError(err))
	}
	return nil
}

// cleanError is a protojson error without its library prefix.
func cleanError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "proto:")
	return strings.TrimSpace(strings.ReplaceAll(s, "\u00a0", " "))
}

// wrapBody nests a body sent for one field in the objects of its path,
// so it unmarshals into the whole message.
func wrapBody(fields []protoreflect.FieldDescriptor, body []byte) []byte {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	var out []byte
	for _, f := range fields {
		out = append(out, `{"`...)
		out = append(out, f.JSONName()...)
		out = append(out, `":`...)
	}
	out = append(out, body...)
	for range fields {
		out = append(out, '}')
	}
	return out
}

// setScalar sets (or, for a repeated field, appends) the field at path
// from its text form in a path or query.
func setScalar(msg protoreflect.Message, fields []protoreflect.FieldDescriptor, text string) error {
	for _, f := range fields[:len(fields)-1] {
		msg = msg.Mutable(f).Message()
	}
	f := fields[len(fields)-1]
	v, err := scalar(f, text)
	if err != nil {
		return err
	}
	if f.IsList() {
		msg.Mutable(f).List().Append(v)
		return nil
	}
	msg.Set(f, v)
	return nil
}

// scalar reads a field's value from text.
func scalar(f protoreflect.FieldDescriptor, text string) (protoreflect.Value, error) {
	switch f.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(text), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(text)
		if err != nil || text != "true" && text != "false" {
			return protoreflect.Value{}, fmt.Errorf("%s takes true or false", f.Name())
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s takes a 32-bit integer", f.Name())
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s takes a 64-bit integer", f.Name())
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(text, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s takes an unsigned 32-bit integer", f.Name())
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s takes an unsigned 64-bit integer", f.Name())
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if f.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		x, err := strconv.ParseFloat(text, bits)
		if err != nil || math.IsInf(x, 0) && !strings.Contains(strings.ToLower(text), "inf") {
			return protoreflect.Value{}, fmt.Errorf("%s takes a number", f.Name())
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(x)), nil
		}
		return protoreflect.ValueOfFloat64(x), nil
	case protoreflect.BytesKind:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(text); err == nil {
				return protoreflect.ValueOfBytes(b), nil
			}
		}
		return protoreflect.Value{}, fmt.Errorf("%s takes base64", f.Name())
	case protoreflect.EnumKind:
		if ev := f.Enum().Values().ByName(protoreflect.Name(text)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		if n, err := strconv.ParseInt(text, 10, 32); err == nil && f.Enum().Values().ByNumber(protoreflect.EnumNumber(n)) != nil {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
		return protoreflect.Value{}, fmt.Errorf("%s takes one of the names of %s", f.Name(), f.Enum().FullName())
	}
	return protoreflect.Value{}, fmt.Errorf("%s cannot be given as text", f.Name())
}
