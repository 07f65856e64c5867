package recipe

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/steps"
)

// Each file in testdata/invalid is a recipe that must fail. Its header
// comments say how:
//
//	# var: NAME=VALUE          a --var option (repeatable)
//	# var-file: PATH           a --var-file, relative to the recipe's directory
//	# want: LINE:COL: SUMMARY: DETAIL-SUBSTRING
//
// There is one `want` line per error, in position order; a diagnostic
// with no position is written as `want: -: SUMMARY: DETAIL`, and one in
// another file (a var file, a template) names that file, relative to the
// recipe's directory, before its position:
//
//	# want: ../files/banned.tpl:2:4: SUMMARY: DETAIL-SUBSTRING
//
// Position order is: no position first, then the recipe's own errors,
// then those in other files by file name. The test asserts the exact
// count, files, positions and summaries, and that each detail contains
// the given text.

var wantLine = regexp.MustCompile(`^# want: (-|(?:([^\s:]+):)?(\d+):(\d+)): ([^:]+): (.*)$`)

type wantDiag struct {
	file      string // "" for the recipe itself
	line, col int
	summary   string
	detail    string
}

type caseHeader struct {
	vars, varFiles []string
	wants          []wantDiag
}

func readHeader(t *testing.T, path string) caseHeader {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h caseHeader
	for _, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "# var: "):
			h.vars = append(h.vars, strings.TrimPrefix(line, "# var: "))
		case strings.HasPrefix(line, "# var-file: "):
			h.varFiles = append(h.varFiles, filepath.Join(filepath.Dir(path), strings.TrimPrefix(line, "# var-file: ")))
		case strings.HasPrefix(line, "# want: "):
			m := wantLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s: malformed want line %q", path, line)
			}
			w := wantDiag{summary: m[5], detail: m[6]}
			if m[1] != "-" {
				if m[2] != "" {
					w.file = filepath.Join(filepath.Dir(path), m[2])
				}
				w.line, _ = strconv.Atoi(m[3])
				w.col, _ = strconv.Atoi(m[4])
			}
			h.wants = append(h.wants, w)
		}
	}
	return h
}

// errorsOnly returns the errors among diags in position order (see
// above) for the recipe at path.
func errorsOnly(diags hcl.Diagnostics, path string) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return posKey(out[i], path) < posKey(out[j], path)
	})
	return out
}

func posKey(d *hcl.Diagnostic, path string) string {
	switch {
	case d.Subject == nil:
		return ""
	case d.Subject.Filename == path:
		return fmt.Sprintf("1:%08d:%08d", d.Subject.Start.Line, d.Subject.Start.Column)
	default:
		return fmt.Sprintf("2:%s:%08d:%08d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
}

func TestInvalidRecipes(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d invalid recipes, want at least 25", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := readHeader(t, path)
			if len(h.wants) == 0 {
				t.Fatalf("%s has no # want: lines", path)
			}
			_, diags := NewLoader().LoadEach(path, Options{Vars: h.vars, VarFiles: h.varFiles, HostArch: "amd64"})
			got := errorsOnly(diags, path)
			if len(got) != len(h.wants) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(h.wants), diagList(got, path))
			}
			for i, w := range h.wants {
				d := got[i]
				if w.line != 0 {
					if d.Subject == nil {
						t.Errorf("error %d %q has no position, want %d:%d", i+1, d.Summary, w.line, w.col)
						continue
					}
					file := path
					if w.file != "" {
						file = w.file
					}
					if d.Subject.Filename != file || d.Subject.Start.Line != w.line || d.Subject.Start.Column != w.col {
						t.Errorf("error %d %q at %s:%d:%d, want %s:%d:%d", i+1, d.Summary, d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, file, w.line, w.col)
					}
				} else if d.Subject != nil {
					t.Errorf("error %d %q at %s, want no position", i+1, d.Summary, d.Subject)
				}
				if d.Summary != w.summary {
					t.Errorf("error %d summary %q, want %q", i+1, d.Summary, w.summary)
				}
				if !strings.Contains(d.Detail, w.detail) {
					t.Errorf("error %d detail %q does not contain %q", i+1, d.Detail, w.detail)
				}
			}
		})
	}
}

// diagList writes diags as want lines, for a failing test's message.
func diagList(diags hcl.Diagnostics, path string) string {
	var b strings.Builder
	for _, d := range diags {
		pos := "-"
		if d.Subject != nil {
			pos = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
			if d.Subject.Filename != path {
				rel, err := filepath.Rel(filepath.Dir(path), d.Subject.Filename)
				if err != nil {
					rel = d.Subject.Filename
				}
				pos = rel + ":" + pos
			}
		}
		fmt.Fprintf(&b, "  # want: %s: %s: %s\n", pos, d.Summary, d.Detail)
	}
	return b.String()
}

func TestShippedRecipesValidate(t *testing.T) {
	variants := [][]string{
		nil,
		{"variant=cloud"},
		{"architecture=arm64"},
		{"architecture=arm64", "variant=cloud"},
	}
	for _, name := range []string{"debian", "ubuntu"} {
		for _, vars := range variants {
			t.Run(name+"/"+strings.Join(vars, ","), func(t *testing.T) {
				plan := mustLoad(t, filepath.Join("..", "..", "recipes", name+".hcl"), Options{Vars: vars})
				if plan.Bootstrap() == nil || plan.Bootstrap().Backend != "debootstrap" {
					t.Fatalf("bootstrap = %+v, want debootstrap", plan.Bootstrap())
				}
				if plan.Bootstrap().Mirror != "" {
					t.Errorf("mirror = %q, want empty (the bootstrap tool's default)", plan.Bootstrap().Mirror)
				}
				cloud := strings.Contains(strings.Join(vars, ","), "variant=cloud")
				if got := hasEnabledPackage(plan, "cloud-init"); got != cloud {
					t.Errorf("cloud-init installed = %v, want %v", got, cloud)
				}
			})
		}
	}
	plan := mustLoad(t, "../../recipes/busybox.hcl", Options{})
	if b := plan.Bootstrap(); b == nil || b.Backend != "busybox" || b.Binary != bootstrap.DefaultBusybox {
		t.Errorf("busybox bootstrap = %+v", b)
	}
	// No public server in the shipped recipe: builder serve's default
	// address until the user names one.
	// The default alias is one that builder publish gives the image
	// recipes/debian.hcl makes (os/release/variant), as the public
	// image servers give it too: the recipe's own example, a tree of
	// that image served by builder serve, works as written.
	debian := mustLoad(t, "../../recipes/debian.hcl", Options{})
	published := debian.Image.Properties["os"] + "/" + debian.Image.Release + "/" + debian.Image.Variant
	plan = mustLoad(t, "../../recipes/debian-image.hcl", Options{})
	if b := plan.Bootstrap(); b == nil || b.Backend != "image" || b.Server != "https://127.0.0.1:8443/" || b.Alias != published || b.Fingerprint != "" {
		t.Errorf("debian-image bootstrap = %+v, want alias %s", b, published)
	}
	if !hasEnabledPackage(plan, "jq") {
		t.Error("debian-image installs no package")
	}
	plan = mustLoad(t, "../../recipes/debian-image.hcl", Options{Vars: []string{"server=https://127.0.0.1:9443/tree/", "fingerprint=" + strings.Repeat("a", 64)}})
	if b := plan.Bootstrap(); b.Server != "https://127.0.0.1:9443/tree/" || b.Fingerprint != strings.Repeat("a", 64) {
		t.Errorf("debian-image bootstrap with variables = %+v", b)
	}
}

func hasEnabledPackage(p *Plan, name string) bool {
	for _, s := range p.EnabledSteps() {
		if pk, ok := s.Action.(*packages.Config); ok {
			for _, n := range pk.Install {
				if n == name {
					return true
				}
			}
		}
	}
	return false
}

func mustLoad(t *testing.T, path string, opts Options) *Plan {
	t.Helper()
	if opts.HostArch == "" {
		opts.HostArch = "amd64"
	}
	l := NewLoader()
	plan, diags := l.Load(path, opts)
	if diags.HasErrors() {
		var b strings.Builder
		_ = hcl.NewDiagnosticTextWriter(&b, l.Files(), 0, false).WriteDiagnostics(diags)
		t.Fatalf("loading %s:\n%s", path, b.String())
	}
	return plan
}

// validChecks holds one check per file in testdata/valid, each asserting
// what that recipe is there to show. Files use the `# var:` and
// `# var-file:` header lines of testdata/invalid.
var validChecks = map[string]func(t *testing.T, p *Plan){
	"exclusive_target_paths.hcl": func(t *testing.T, p *Plan) {
		if b := p.Bootstrap(); b == nil || b.Backend != "mmdebstrap" || b.Variant != "apt" {
			t.Errorf("bootstrap = %+v, want mmdebstrap apt", b)
		}
		var motd []string
		for _, s := range p.EnabledSteps() {
			switch a := s.Action.(type) {
			case *steps.File:
				motd = append(motd, "file "+a.Path)
			case *steps.Copy:
				motd = append(motd, "copy "+a.Path)
			case *steps.Run:
				if a.Script != "echo cloud" || s.Stage != StagePostFiles {
					t.Errorf("enabled run %q = %q in stage %s, want the cloud one in post-files", a.Name, a.Script, s.Stage)
				}
			}
		}
		if strings.Join(motd, ",") != "copy /etc/motd" {
			t.Errorf("enabled blocks for /etc/motd = %v, want only the copy", motd)
		}
		// The other variant validates too, with the other blocks.
		other := mustLoad(t, p.File, Options{Vars: []string{"variant=default"}})
		if b := other.Bootstrap(); b == nil || b.Backend != "debootstrap" {
			t.Errorf("default variant bootstrap = %+v, want debootstrap", b)
		}
		if steps := other.EnabledSteps(); len(steps) != 3 || steps[2].Kind != "file" {
			t.Errorf("default variant steps = %+v, want bootstrap, run and file", steps)
		}
	},
	"nonsensitive.hcl": checkNonsensitive,
	"pinned_tarball.hcl": func(t *testing.T, p *Plan) {
		b := p.Bootstrap()
		if b == nil || b.Source != "https://images.example.org/rootfs.tar.xz" || len(b.SHA256) != 64 {
			t.Errorf("bootstrap = %+v, want the pinned https tarball", b)
		}
		if p.Output.Type != OutputUnified || p.Output.RootfsFormat != RootfsTar || p.Output.Compression.String() != "zstd-19" {
			t.Errorf("output = %s %s %s, want unified tar zstd-19", p.Output.Type, p.Output.RootfsFormat, p.Output.Compression)
		}
		if p.Image.Expiry != 0 || p.Image.Serial != "20240501_1200" {
			t.Errorf("expiry %v serial %q, want never and 20240501_1200", p.Image.Expiry, p.Image.Serial)
		}
		if p.Image.Name != "alpine-3.20-amd64-default" {
			t.Errorf("image name = %q", p.Image.Name)
		}
	},
	"stages_and_templates.hcl": func(t *testing.T, p *Plan) {
		var order []string
		for _, s := range p.Steps {
			order = append(order, s.Kind+":"+s.Name)
		}
		want := "bootstrap:busybox,run:first,packages:,file:/etc/motd,run:last"
		if got := strings.Join(order, ","); got != want {
			t.Errorf("step order = %s, want %s", got, want)
		}
		for _, s := range p.Steps {
			if f, ok := s.Action.(*steps.File); ok && (f.Ownership.Mode != 0o640 || f.Ownership.Group != "adm") {
				t.Errorf("file ownership = %+v, want 0640 root:adm", f.Ownership)
			}
		}
		if len(p.Templates) != 2 {
			t.Fatalf("got %d templates, want 2", len(p.Templates))
		}
		if n := p.Templates[0].Name; n != "hostname.tpl" || !strings.Contains(p.Templates[0].Content, "container.name") {
			t.Errorf("source template = %q %q, want hostname.tpl read from testdata/files", n, p.Templates[0].Content)
		}
		if n, w := p.Templates[1].Name, strings.Join(p.Templates[1].When, ","); n != "issue.tpl" || w != "start" {
			t.Errorf("inline template = %q when %s, want issue.tpl when start", n, w)
		}
	},
	"var_file.hcl": func(t *testing.T, p *Plan) {
		v := p.Variables[0]
		if v.Source != SourceVarFile || v.Value.AsString() != "trixie" {
			t.Errorf("var.release = %s from %s, want trixie from the var file", DisplayValue(v.Value, false), v.Source)
		}
		if p.Image.Name != "debian-trixie-arm64-default" || p.Image.Architecture.LXD != "aarch64" {
			t.Errorf("image = %s (%s), want debian-trixie-arm64-default for aarch64", p.Image.Name, p.Image.Architecture.LXD)
		}
		if p.Image.Expiry != 9*24*time.Hour {
			t.Errorf("expiry = %v, want 9 days", p.Image.Expiry)
		}
		if b := p.Bootstrap(); b == nil || b.Suite != "trixie" {
			t.Errorf("bootstrap = %+v, want the suite to default to the release", b)
		}
	},
}

func TestValidRecipes(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			check, ok := validChecks[name]
			if !ok {
				t.Fatalf("%s has no entry in validChecks", path)
			}
			h := readHeader(t, path)
			l := NewLoader()
			plan, diags := l.Load(path, Options{Vars: h.vars, VarFiles: h.varFiles, HostArch: "amd64"})
			if diags.HasErrors() {
				t.Fatalf("unexpected errors:\n%s", diagList(errorsOnly(diags, path), path))
			}
			check(t, plan)
		})
	}
	for name := range validChecks {
		if !seen[name] {
			t.Errorf("validChecks has %s, which is not in testdata/valid", name)
		}
	}
}

func TestUnknownHostArchitecture(t *testing.T) {
	path := "testdata/valid/stages_and_templates.hcl"
	_, diags := NewLoader().Load(path, Options{HostArch: "mips64"})
	got := errorsOnly(diags, path)
	if len(got) != 1 || got[0].Summary != "Unknown architecture" || !strings.Contains(got[0].Detail, "this machine's, mips64") {
		t.Fatalf("got:\n%s", diagList(got, path))
	}
	if got[0].Subject.Start.Line != 4 {
		t.Errorf("error at %s, want the image block on line 4", got[0].Subject)
	}
}
