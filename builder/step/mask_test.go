package step

import (
	"reflect"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	ownership := Field{Name: "ownership", Attributes: []string{"mode", "owner", "group"},
		Value: Object{{Name: "owner", Value: Text("root")}, {Name: "group", Value: Text("adm")}}}
	fields := Fields{
		{Name: "path", Value: Text("/etc/app.conf")},
		{Name: "content", Value: Text("token=s3cr3t")},
		{Name: "install", Value: Texts([]string{"vim", "s3cr3t-tool", "git"})},
		{Name: "update", Value: Flag(true)},
		{Name: "suites", Value: List(nil)},
		ownership,
	}
	holds := func(text string) bool { return strings.Contains(text, "s3cr3t") }
	// Replace marks what it was given, so the test sees whether it got a
	// whole field or one item.
	replace := func(v Value) Value { return Text("<" + v.String() + ">") }
	tests := []struct {
		name string
		m    Masking
		want map[string]Value // the fields that change
	}{
		{"nothing to mask", Masking{Replace: replace}, nil},
		{"a sensitive attribute masks its field whole", Masking{Sensitive: []string{"install"}, Replace: replace},
			map[string]Value{"install": Text(`<["vim","s3cr3t-tool","git"]>`)}},
		{"an attribute of a field with several masks all of it", Masking{Sensitive: []string{"group"}, Replace: replace},
			map[string]Value{"ownership": Text(`<{"group":"adm","owner":"root"}>`)}},
		{"a flag", Masking{Sensitive: []string{"update"}, Replace: replace},
			map[string]Value{"update": Text("<true>")}},
		{"a null list", Masking{Sensitive: []string{"suites"}, Replace: replace},
			map[string]Value{"suites": Text("<>")}},
		{"a secret's text masks the value, or the list item, holding it", Masking{HoldsSecret: holds, Replace: replace},
			map[string]Value{"content": Text("<token=s3cr3t>"), "install": List{Text("vim"), Text("<s3cr3t-tool>"), Text("git")}}},
		{"sensitive and secret", Masking{Sensitive: []string{"content", "mode"}, HoldsSecret: holds, Replace: replace},
			map[string]Value{"content": Text("<token=s3cr3t>"), "install": List{Text("vim"), Text("<s3cr3t-tool>"), Text("git")},
				"ownership": Text(`<{"group":"adm","owner":"root"}>`)}},
		{"an attribute no field carries", Masking{Sensitive: []string{"source"}, Replace: replace}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fields[2].Value.(List)[1]
			got := Mask(fields, tt.m)
			if len(got) != len(fields) {
				t.Fatalf("Mask returned %d fields, want %d", len(got), len(fields))
			}
			for i, f := range got {
				want, changes := tt.want[f.Name]
				if !changes {
					want = fields[i].Value
				}
				if f.Name != fields[i].Name || !reflect.DeepEqual(f.Value, want) {
					t.Errorf("field %s = %#v, want %#v", f.Name, f.Value, want)
				}
				if f.Masked != changes {
					t.Errorf("field %s: Masked = %v, want %v", f.Name, f.Masked, changes)
				}
			}
			if after := fields[2].Value.(List)[1]; after != before {
				t.Errorf("Mask changed its input: %v", after)
			}
		})
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		v          Value
		text       string
		json       any
		emptyField bool
	}{
		{Text("a<b>&c"), "a<b>&c", "a<b>&c", false},
		{Text("bad \xff byte"), "bad \uFFFD byte", "bad \uFFFD byte", false},
		{Text(""), "", "", true},
		{Flag(false), "false", false, true},
		{Flag(true), "true", true, false},
		{Texts(nil), "", nil, true},
		{Texts([]string{}), "[]", []any{}, true},
		{Texts([]string{"a", "<b>"}), `["a","\u003cb\u003e"]`, []any{"a", "<b>"}, false},
		{Object{{Name: "owner", Value: Text("root")}, {Name: "group", Value: Text("adm")}}, `{"group":"adm","owner":"root"}`,
			map[string]any{"owner": "root", "group": "adm"}, false},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.text {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.text)
		}
		if got := tt.v.JSON(); !reflect.DeepEqual(got, tt.json) {
			t.Errorf("%#v.JSON() = %#v, want %#v", tt.v, got, tt.json)
		}
		if got := len(Fields{}.WithSet("x", tt.v)) == 0; got != tt.emptyField {
			t.Errorf("WithSet(%#v) left it out: %v, want %v", tt.v, got, tt.emptyField)
		}
	}
	fs := Fields{}.With("install", Texts([]string{"a", "b"})).With("flag", Flag(true))
	if got := fs.Text("install") + " " + fs.Text("flag") + " " + fs.Text("missing"); got != "a,b true " {
		t.Errorf("Fields.Text = %q", got)
	}
}
