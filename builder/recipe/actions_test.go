package recipe

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
)

// stepBlocks sets every attribute of each step kind, over as many blocks
// as attributes that exclude each other need. Bootstrap blocks are
// keyed by backend.
var stepBlocks = map[string][]string{
	"file": {
		block(`file "/etc/a"`, `content = "a"`, `mode = "0600"`, `owner = "root"`, `group = "adm"`),
		block(`file "/etc/b"`, `source = "data.txt"`),
	},
	"copy":   {block(`copy "/opt/tree"`, `source = "tree"`, `mode = "0640"`, `owner = "root"`, `group = "adm"`)},
	"remove": {block(`remove "/usr/share/doc"`, `missing_ok = true`)},
	"run": {
		block(`run "a"`, `stage = "post-files"`, `script = "echo"`, `environment = { A = "b" }`, `timeout = "1m"`, `capabilities = ["SYS_ADMIN"]`),
		block(`run "b"`, `source = "script.sh"`),
	},
	"repository": {
		block(`repository "a"`, `url = "https://example.org/debian"`, `types = ["deb"]`, `suites = ["bookworm"]`, `components = ["main"]`,
			`architectures = ["amd64"]`, `key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n"`),
		block(`repository "b"`, `url = "https://example.org/debian"`, `key_file = "key.gpg"`),
	},
	"packages": {block(`packages`, `manager = "apt"`, `update = true`, `upgrade = true`, `install = ["vim"]`, `remove = ["nano"]`, `cleanup = true`)},
	"debootstrap": {block(`bootstrap "debootstrap"`, `suite = "bookworm"`, `variant = "minbase"`, `mirror = "https://deb.debian.org/debian"`, `snapshot = "20250101T000000Z"`,
		`keyring = "https://example.org/key.asc"`, `keyring_fingerprints = ["0123456789ABCDEF0123456789ABCDEF01234567"]`,
		`components = ["main"]`, `include = ["less"]`, `exclude = ["nano"]`, `extra_args = ["--no-check-gpg"]`)},
	"mmdebstrap": {block(`bootstrap "mmdebstrap"`, `suite = "bookworm"`, `variant = "apt"`, `mirror = "https://deb.debian.org/debian"`, `snapshot = "20250101T000000Z"`,
		`keyring = "key.gpg"`, `keyring_fingerprints = ["0123456789ABCDEF0123456789ABCDEF01234567"]`,
		`components = ["main"]`, `include = ["less"]`, `exclude = ["nano"]`, `extra_args = ["--verbose"]`)},
	"tarball":   {block(`bootstrap "tarball"`, `source = "root.tar"`, `sha256 = "`+strings.Repeat("0", 64)+`"`)},
	"directory": {block(`bootstrap "directory"`, `source = "tree"`)},
	"busybox":   {block(`bootstrap "busybox"`, `binary = "data.txt"`)},
	"image": {
		block(`bootstrap "image"`, `daemon = "lxd"`, `remote = "https://127.0.0.1:8443"`, `alias = "base"`, `fingerprint = "`+strings.Repeat("0", 64)+`"`,
			`templates = "keep"`, `properties = "keep"`, `drop_templates = ["/etc/hostname"]`, `drop_properties = ["description"]`),
		block(`bootstrap "image"`, `enabled = false`, `server = "https://127.0.0.1/streams"`, `variant = "default"`, `alias = "base"`),
	},
	"oci": {block(`bootstrap "oci"`, `image = "v1"`, `digest = "sha256:`+strings.Repeat("0", 64)+`"`, `layout = "layout"`)},
}

func block(header string, attrs ...string) string {
	return header + " {\n  " + strings.Join(attrs, "\n  ") + "\n}\n"
}

// notFields are attributes that are the step's rather than its action's:
// its condition, a run step's stage, and a run step's source, which the
// recipe reads into the script.
var notFields = map[string][]string{"": {"enabled"}, "run": {"stage", "source"}}

// TestActionFieldsCoverAttributes: every step kind the schema knows, and
// every bootstrap backend, decodes into an Action whose fields carry each
// of its attributes, so inspect shows them and the cache key hashes them.
func TestActionFieldsCoverAttributes(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"data.txt", "script.sh", "key.gpg", "root.tar"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("echo\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ociLayoutDir(t), filepath.Join(dir, "layout")); err != nil {
		t.Fatal(err)
	}
	image := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\n"
	nonSteps := []string{"variable", "locals", "image", "template", "environment", "output", "limits", "matrix", "test"}
	var kinds []string
	for _, kind := range BlockTypes() {
		switch {
		case slices.Contains(nonSteps, kind):
		case kind == "bootstrap":
			kinds = append(kinds, bootstrap.Names()...)
		default:
			kinds = append(kinds, kind)
		}
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			blocks, ok := stepBlocks[kind]
			if b, err := bootstrap.Lookup(kind); !ok && err == nil && len(b.Attributes()) == 0 {
				// A backend without attributes has one block to decode.
				blocks, ok = []string{block(`bootstrap "` + kind + `"`)}, true
			}
			if !ok {
				t.Fatalf("no block of %s to decode: add one to stepBlocks", kind)
			}
			src := image
			if !slices.Contains(bootstrap.Names(), kind) {
				src += "bootstrap \"busybox\" {}\n"
			}
			path := filepath.Join(dir, kind+".hcl")
			if err := os.WriteFile(path, []byte(src+strings.Join(blocks, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			plan := mustLoad(t, path, Options{})
			var attrs []string
			carried := map[string]bool{}
			for _, s := range plan.Steps {
				if s.Kind == "bootstrap" && kind != s.Name || s.Kind != "bootstrap" && s.Kind != kind {
					continue
				}
				if s.Action.Kind() != s.Kind {
					t.Errorf("the action of a %s block says its kind is %q", s.Kind, s.Action.Kind())
				}
				attrs = Attributes(s.Kind)
				if s.Kind == "bootstrap" {
					attrs = BackendAttributes(s.Name)
				}
				for _, f := range s.Action.Fields() {
					for _, a := range attrs {
						if f.Carries(a) {
							carried[a] = true
						}
					}
				}
			}
			if attrs == nil {
				t.Fatalf("no %s step decoded", kind)
			}
			for _, a := range attrs {
				if !carried[a] && !slices.Contains(notFields[""], a) && !slices.Contains(notFields[kind], a) {
					t.Errorf("no field of a %s action carries its attribute %s", kind, a)
				}
			}
		})
	}
}

// TestActionFieldsOrder: an action's fields are the same, in the same
// order, every time.
func TestActionFieldsOrder(t *testing.T) {
	plan := mustLoad(t, "../../recipes/debian.hcl", Options{})
	for _, s := range plan.Steps {
		first, second := fmt.Sprint(s.Action.Fields()), fmt.Sprint(s.Action.Fields())
		if first != second {
			t.Errorf("%s %q: fields changed between calls:\n%s\n%s", s.Kind, s.Name, first, second)
		}
		names := map[string]bool{}
		for _, f := range s.Action.Fields() {
			if names[f.Name] {
				t.Errorf("%s %q: two fields named %s", s.Kind, s.Name, f.Name)
			}
			names[f.Name] = true
		}
	}
}
