package step

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field is one resolved attribute of an action.
type Field struct {
	// Name is the key inspect --json prints and the cache key names.
	Name  string
	Value Value
	// Attributes are the recipe attributes the value comes from when
	// they are not just Name: an ownership holds mode, owner and group.
	Attributes []string
	// Masked is set by Mask on a field whose value, or an item of it,
	// it replaced.
	Masked bool
}

// Carries says whether the field holds the recipe attribute attr.
func (f Field) Carries(attr string) bool {
	if len(f.Attributes) == 0 {
		return f.Name == attr
	}
	return slices.Contains(f.Attributes, attr)
}

// Value is a field's value in one of the shapes recipes have: Text, Flag,
// List or Object.
type Value interface {
	// String is the value as one text: itself for Text, "true" or
	// "false" for a Flag, JSON for a List or an Object ("" for a nil
	// List).
	String() string
	// JSON is the value as encoding/json's generic types (string, bool,
	// []any, map[string]any, nil), which inspect --json prints.
	JSON() any
}

// Text is a string value.
type Text string

// Flag is a boolean value.
type Flag bool

// List is a list of values; a nil List is JSON's null, an empty one [].
type List []Value

// Object is a value with named parts, printed as a JSON object with its
// keys sorted.
type Object []Field

// String is the text as JSON carries it: each byte of invalid UTF-8 (a
// script read from a file may hold some) becomes U+FFFD.
func (t Text) String() string {
	s := string(t)
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // each invalid byte ranges as utf8.RuneError
	}
	return b.String()
}

func (t Text) JSON() any { return t.String() }

func (f Flag) String() string { return strconv.FormatBool(bool(f)) }
func (f Flag) JSON() any      { return bool(f) }

func (l List) String() string {
	if l == nil {
		return "" // no value, as the cache key has always hashed it
	}
	return jsonText(l.JSON())
}

func (l List) JSON() any {
	if l == nil {
		return nil
	}
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v.JSON()
	}
	return out
}

func (o Object) String() string { return jsonText(o.JSON()) }

func (o Object) JSON() any {
	out := make(map[string]any, len(o))
	for _, f := range o {
		out[f.Name] = f.Value.JSON()
	}
	return out
}

// Texts makes a List of strings; nil stays nil.
func Texts(items []string) List {
	if items == nil {
		return nil
	}
	out := make(List, len(items))
	for i, s := range items {
		out[i] = Text(s)
	}
	return out
}

// jsonText is encoding/json's text of generic values: keys sorted, HTML
// characters escaped. The cache keys have always hashed lists' items and
// objects in this form.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Generic values of strings, bools, lists and maps always marshal.
		panic("step: marshalling a field value: " + err.Error())
	}
	return string(b)
}

// Fields are an action's fields, in the action's order.
type Fields []Field

// With adds a field.
func (fs Fields) With(name string, v Value) Fields {
	return append(fs, Field{Name: name, Value: v})
}

// WithSet adds a field unless its value is empty ("", false, an empty
// list or object): an attribute that was left unset, or set to nothing,
// is not shown.
func (fs Fields) WithSet(name string, v Value) Fields {
	if isEmpty(v) {
		return fs
	}
	return fs.With(name, v)
}

func isEmpty(v Value) bool {
	switch v := v.(type) {
	case Text:
		return v == ""
	case Flag:
		return !bool(v)
	case List:
		return len(v) == 0
	case Object:
		return len(v) == 0
	}
	return v == nil
}

// Get returns the named field's value, nil when there is none.
func (fs Fields) Get(name string) Value {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// Masked says whether Mask replaced the named field's value.
func (fs Fields) Masked(name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return f.Masked
		}
	}
	return false
}

// Text renders the named field for a one-line summary: a text as it is,
// a flag as true or false, a list's items joined by commas, an object as
// JSON; "" when there is no such field.
func (fs Fields) Text(name string) string { return display(fs.Get(name)) }

func display(v Value) string {
	switch v := v.(type) {
	case nil:
		return ""
	case List:
		items := make([]string, len(v))
		for i, item := range v {
			items[i] = display(item)
		}
		return strings.Join(items, ",")
	}
	return v.String()
}
