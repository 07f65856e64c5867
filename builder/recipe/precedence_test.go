package recipe

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVariablePrecedence sets every variable from every source that may
// set it and checks who wins: default < BUILDER_VAR_ < each --var-file in
// order < each --var in order.
func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	recipe := write("r.hcl", `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "e" { default = "default" }
variable "f" { default = "default" }
variable "n" {
  type    = number
  default = 1
}
image {
  distribution = "d"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" {}
`)
	first := write("first.vars", "c = \"first\"\nd = \"first\"\ne = \"first\"\n")
	second := write("second.vars", "d = \"second\"\ne = \"second\"\n")
	opts := Options{
		HostArch: "amd64",
		Environ:  []string{"BUILDER_VAR_b=env", "BUILDER_VAR_c=env", "BUILDER_VAR_d=env", "BUILDER_VAR_e=env", "BUILDER_VAR_n=5", "UNRELATED=x"},
		VarFiles: []string{first, second},
		Vars:     []string{"e=cli-1", "f=cli-1", "f=cli-2"},
	}
	plan := mustLoad(t, recipe, opts)
	want := map[string]struct {
		value, origin string
		source        ValueSource
	}{
		"a": {`"default"`, "default", SourceDefault},
		"b": {`"env"`, "BUILDER_VAR_b", SourceEnvironment},
		"c": {`"first"`, first + ":1", SourceVarFile},
		"d": {`"second"`, second + ":1", SourceVarFile},
		"e": {`"cli-1"`, "--var", SourceCommandLine},
		"f": {`"cli-2"`, "--var", SourceCommandLine},
		"n": {`5`, "BUILDER_VAR_n", SourceEnvironment},
	}
	for _, v := range plan.Variables {
		w := want[v.Name]
		if got := DisplayValue(v.Value, false); got != w.value || v.Origin != w.origin || v.Source != w.source {
			t.Errorf("var.%s = %s from %s (%s), want %s from %s (%s)", v.Name, got, v.Origin, v.Source, w.value, w.origin, w.source)
		}
	}
}
