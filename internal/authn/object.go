package authn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Object is a JSON object's members by their exact names. Tokens, JOSE
// headers and introspection answers are read through it rather than
// decoded into structs, because encoding/json matches struct fields
// case-insensitively ("ACTIVE" would fill Active) and lets a repeated
// member silently override the first: both are parser differentials an
// attacker can use against whoever reads the same JSON after the
// gateway. Member names are case-sensitive and a repeated one is an
// error.
type Object map[string]json.RawMessage

// ParseObject reads one JSON object, refusing repeated member names and
// anything after the object.
func ParseObject(b []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	o := Object{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := t.(string) // object keys are always strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := o[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		o[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return o, nil
}

// Has reports whether the member is present, whatever its value.
func (o Object) Has(name string) bool {
	_, ok := o[name]
	return ok
}

// String returns a string member; absent is "", another type an error.
func (o Object) String(name string) (string, error) {
	raw, ok := o[name]
	if !ok {
		return "", nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s is not a string", name)
	}
	return s, nil
}

// Bool returns a boolean member, or nil when absent; another type is an
// error (the string "true" is not true).
func (o Object) Bool(name string) (*bool, error) {
	raw, ok := o[name]
	if !ok {
		return nil, nil
	}
	switch string(raw) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, fmt.Errorf("%s is not a boolean", name)
}

// Date returns a NumericDate member (seconds since the epoch, fractions
// allowed): zero and false when absent, an error when it is not a
// plausible JSON number (a quoted number is not one).
func (o Object) Date(name string) (time.Time, bool, error) {
	raw, ok := o[name]
	if !ok {
		return time.Time{}, false, nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, true, fmt.Errorf("%s is not a number", name)
	}
	n := json.Number(raw)
	t, ok := NumericDate(&n)
	if !ok {
		return time.Time{}, true, fmt.Errorf("%s is not a valid date", name)
	}
	return t, true, nil
}

// Confirmation reads the cnf member (RFC 7800); absent is the zero value.
func (o Object) Confirmation() (Confirmation, error) {
	raw, ok := o["cnf"]
	if !ok {
		return Confirmation{}, nil
	}
	cnf, err := ParseObject(raw)
	if err != nil {
		return Confirmation{}, fmt.Errorf("cnf: %w", err)
	}
	var c Confirmation
	var e1, e2 error
	c.X5t, e1 = cnf.String("x5t#S256")
	c.JKT, e2 = cnf.String("jkt")
	if err := errors.Join(e1, e2); err != nil {
		return Confirmation{}, fmt.Errorf("cnf: %w", err)
	}
	return c, nil
}

// Any decodes the whole object for Identity.Claims.
func (o Object) Any() map[string]any {
	m := make(map[string]any, len(o))
	for k, raw := range o {
		var v any
		_ = json.Unmarshal(raw, &v) // raw came out of a successful decode
		m[k] = v
	}
	return m
}
