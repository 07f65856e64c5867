package recipe

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/steps"
)

// checkNonsensitive is validChecks' entry for testdata/valid/nonsensitive.hcl.
func checkNonsensitive(t *testing.T, p *Plan) {
	sum := sha256.Sum256([]byte("s3cr3t-token-value"))
	if got := p.Image.Properties["token_sha256"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("token_sha256 = %q, want the published digest", got)
	}
	if slices.Contains(p.Image.Sensitive, "properties") {
		t.Errorf("image sensitive attributes %v: nonsensitive() did not clear properties", p.Image.Sensitive)
	}
	if got := p.Templates[0].Properties["build"]; got != "S3CR3T-TOKEN-VALUE" {
		t.Errorf("template property build = %q", got)
	}
	want := []string{"Bearer s3cr3t-token-value", "S3CR3T-TOKEN-VALUE", "s3cr3t-token-value"}
	if got := p.Secrets(); !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q (neither the user name nor the login is secret)", got, want)
	}
	for _, s := range p.Steps {
		if r, ok := s.Action.(*steps.Run); ok {
			for _, e := range r.Environment {
				if e.Sensitive != (e.Name == "PASSWORD") {
					t.Errorf("run %q: %s sensitive = %v", r.Name, e.Name, e.Sensitive)
				}
			}
			if !slices.Contains(s.Sensitive, "environment") {
				t.Errorf("run %q: sensitive attributes %v lack environment", r.Name, s.Sensitive)
			}
		}
	}
}

// TestShortSensitiveValueWarns: a sensitive value too short to be masked
// is a warning at the place that set it, and the recipe stays valid.
func TestShortSensitiveValueWarns(t *testing.T) {
	path := "testdata/valid/nonsensitive.hcl"
	for _, tc := range []struct {
		token string
		warn  bool
	}{{"abc", true}, {"abcd", false}, {"", false}} {
		_, diags := NewLoader().Load(path, Options{Vars: []string{"token=" + tc.token}, HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatalf("token %q: %s", tc.token, diags.Error())
		}
		var warnings hcl.Diagnostics
		for _, d := range diags {
			if d.Severity == hcl.DiagWarning {
				warnings = append(warnings, d)
			}
		}
		if !tc.warn {
			if len(warnings) != 0 {
				t.Errorf("token %q: warnings %s", tc.token, warnings.Error())
			}
			continue
		}
		if len(warnings) != 1 || warnings[0].Summary != "Sensitive value too short to mask" {
			t.Fatalf("token %q: warnings %v", tc.token, warnings)
		}
		w := warnings[0]
		if !strings.Contains(w.Detail, "var.token is sensitive, but its value (from --var) is shorter than 4 characters") {
			t.Errorf("detail %q", w.Detail)
		}
		if strings.Contains(w.Detail, tc.token) {
			t.Errorf("the warning prints the value: %q", w.Detail)
		}
		if w.Subject == nil || w.Subject.Filename != path || w.Subject.Start.Line != 6 {
			t.Errorf("warning at %v, want the variable block at %s:6", w.Subject, path)
		}
	}
}
