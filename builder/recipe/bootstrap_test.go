package recipe

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
)

// TestBootstrapHostPathsStayPaths: a keyring or busybox binary next to a
// recipe loaded from the current directory stays a path in the plan. A
// bare "busybox" would otherwise be looked up in $PATH, and "./--list"
// (the way validate tells users to name such a file) would lose its "./"
// and reach the command line as an option.
func TestBootstrapHostPathsStayPaths(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, name := range []string{"--list", "busybox", "--keyring"} {
		if err := os.WriteFile(name, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ bootstrap, want string }{
		{`bootstrap "busybox" { binary = "./--list" }`, "./--list"},
		{`bootstrap "busybox" { binary = "busybox" }`, "./busybox"},
		{`bootstrap "debootstrap" { keyring = "./--keyring" }`, "./--keyring"},
	}
	for _, tt := range tests {
		src := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\n" + tt.bootstrap + "\n"
		if err := os.WriteFile("r.hcl", []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		plan := mustLoad(t, "r.hcl", Options{})
		b := plan.Steps[0].Action.(*bootstrap.Config)
		if got := b.Binary + b.Keyring; got != tt.want {
			t.Errorf("%s: the plan has %q, want %q", tt.bootstrap, got, tt.want)
		}
	}
}

// TestBackendAttributesDecode: every attribute a bootstrap backend
// declares is in the recipe's schema and reaches the backend's Config.
// A backend that declares a new attribute needs a sample value here and
// a line in the decoder.
func TestBackendAttributesDecode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	samples := map[string]string{
		"suite": `"bookworm"`, "mirror": `"http://deb.example/debian"`, "snapshot": `"20250101T000000Z"`, "keyring": strconv.Quote(file),
		"keyring_fingerprints": `["0123456789ABCDEF0123456789ABCDEF01234567"]`, "components": `["main"]`,
		"include": `["curl"]`, "exclude": `["nano"]`, "extra_args": `["--verbose"]`,
		"sha256": `"` + strings.Repeat("ab", 32) + `"`, "binary": strconv.Quote(file),
		"image": `"127.0.0.1:5000/base:1"`, "digest": `"sha256:` + strings.Repeat("ab", 32) + `"`, "layout": strconv.Quote(ociLayoutDir(t)),
	}
	// exclusive are attributes that exclude each other: each group is
	// decoded in a block of its own with the backend's other attributes.
	exclusive := map[string][][]string{"image": {{"daemon", "remote"}, {"server", "variant"}}}
	samples["daemon"], samples["remote"], samples["server"] = `"lxd"`, `"https://127.0.0.1:8443"`, `"https://127.0.0.1/streams"`
	samples["alias"], samples["fingerprint"] = `"base"`, `"`+strings.Repeat("cd", 32)+`"`
	samples["templates"], samples["properties"] = `"keep"`, `"drop"`
	samples["drop_templates"], samples["drop_properties"] = `["/etc/hostname"]`, `["description"]`
	for _, backend := range bootstrap.Backends() {
		if !slices.Equal(BackendAttributes(backend.Name())[1:], stripRequired(backend.Attributes())) {
			t.Errorf("%s: the schema has %v, the backend declares %v", backend.Name(), BackendAttributes(backend.Name()), backend.Attributes())
		}
		groups := exclusive[backend.Name()]
		if groups == nil {
			groups = [][]string{nil}
		}
		for _, group := range groups {
			var attrs []string
			for _, attr := range stripRequired(backend.Attributes()) {
				inOther := slices.ContainsFunc(groups, func(g []string) bool { return slices.Contains(g, attr) }) && !slices.Contains(group, attr)
				if !inOther {
					attrs = append(attrs, attr)
				}
			}
			checkAttributesDecode(t, backend, attrs, samples, dir, file)
		}
	}
}

// checkAttributesDecode decodes a block of backend with attrs set to
// their samples and checks each reaches the Config.
func checkAttributesDecode(t *testing.T, backend bootstrap.Backend, attrs []string, samples map[string]string, dir, file string) {
	t.Helper()
	var body strings.Builder
	for _, attr := range attrs {
		if !slices.Contains(Attributes("bootstrap"), attr) {
			t.Errorf("%s: %s is not a bootstrap attribute of the schema", backend.Name(), attr)
		}
		value, ok := samples[attr]
		switch {
		case attr == "variant" && len(backend.Variants()) == 0:
			value, ok = `"default"`, true
		case attr == "variant":
			value, ok = strconv.Quote(backend.Variants()[0]), true
		case attr == "source" && backend.Name() == "directory":
			value, ok = strconv.Quote(dir), true
		case attr == "source":
			value, ok = strconv.Quote(file), true
		}
		if !ok {
			t.Errorf("%s: no sample value for %s", backend.Name(), attr)
			continue
		}
		fmt.Fprintf(&body, "  %s = %s\n", attr, value)
	}
	src := fmt.Sprintf("image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\nbootstrap %q {\n%s}\n", backend.Name(), body.String())
	path := filepath.Join(t.TempDir(), "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := mustLoad(t, path, Options{})
	raw, err := json.Marshal(plan.Bootstrap())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, attr := range attrs {
		if _, ok := fields[attr]; !ok {
			t.Errorf("%s: %s = %s did not reach the Config: %s", backend.Name(), attr, samples[attr], raw)
		}
	}
}

func stripRequired(entries []string) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i], _ = attrName(e)
	}
	return names
}

// TestSnapshotChecked: snapshot is a time stamp, needs a mirror, and the
// mirror it is appended to (MIRROR/SNAPSHOT/) has no query or fragment
// that would swallow it.
func TestSnapshotChecked(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ attrs, want string }{
		{`mirror = "https://snap.example/archive/debian"` + "\n" + `snapshot = "2025-01-01"`, "Invalid snapshot"},
		{`snapshot = "20250101T000000Z"`, "Snapshot without a mirror"},
		{`mirror = "https://snap.example/archive/debian?x=1"` + "\n" + `snapshot = "20250101T000000Z"`, "has a query or fragment"},
		{`mirror = "https://snap.example/archive/debian#x"` + "\n" + `snapshot = "20250101T000000Z"`, "has a query or fragment"},
		{`mirror = "https://snap.example/archive/debian/"` + "\n" + `snapshot = "20250101T000000Z"`, ""},
	} {
		src := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\nbootstrap \"debootstrap\" {\n" + tc.attrs + "\n}\n"
		path := filepath.Join(dir, "r.hcl")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		plan, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
		switch {
		case tc.want == "" && diags.HasErrors():
			t.Errorf("%s: %v", tc.attrs, diags)
		case tc.want == "":
			if got := plan.Bootstrap().ArchiveMirror(); got != "https://snap.example/archive/debian/20250101T000000Z/" {
				t.Errorf("%s: the archive is %s", tc.attrs, got)
			}
		case !strings.Contains(fmt.Sprint(diags), tc.want):
			t.Errorf("%s: %v, want %q", tc.attrs, diags, tc.want)
		}
	}
}

// ociLayoutDir is a directory that looks like an OCI image layout.
func ociLayoutDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": `{"schemaVersion":2,"manifests":[]}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestOCIBlockChecked: an oci block names a registry image or a layout,
// its reference names a registry (never one a default would complete),
// and its digest is a sha256 one.
func TestOCIBlockChecked(t *testing.T) {
	dir := t.TempDir()
	layout := ociLayoutDir(t)
	digest := `"sha256:` + strings.Repeat("0", 64) + `"`
	for _, tc := range []struct{ attrs, want string }{
		{``, "Missing image"},
		{`image = ""`, "Missing image"},
		{`image = "user:hunter2@127.0.0.1:5000/base:1"`, "names credentials"},
		{`image = "busybox:1"`, `"busybox:1" names no registry`},
		{`image = "127.0.0.1:5000/Upper:1"`, "is not an image reference"},
		{`image = "127.0.0.1:5000/base@sha256:00"`, "is not an image reference"},
		{`image = "127.0.0.1:5000/base:1"` + "\n" + `digest = "md5:00"`, "Invalid digest"},
		{`layout = "` + dir + `"`, "is not an OCI image layout: its oci-layout cannot be read"},
		{`image = "127.0.0.1:5000/base:1"` + "\n" + `digest = ` + digest, ""},
		{`image = "127.0.0.1:5000/base@sha256:` + strings.Repeat("0", 64) + `"`, ""},
		{`layout = "` + layout + `"` + "\n" + `image = "v1"`, ""},
	} {
		src := "image {\n  distribution = \"busybox\"\n  release = \"oci\"\n}\nbootstrap \"oci\" {\n" + tc.attrs + "\n}\n"
		path := filepath.Join(dir, "r.hcl")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
		switch {
		case tc.want == "" && diags.HasErrors():
			t.Errorf("%s: %v", tc.attrs, diags)
		case tc.want != "" && !strings.Contains(fmt.Sprint(diags), tc.want):
			t.Errorf("%s: %v, want %q", tc.attrs, diags, tc.want)
		case strings.Contains(fmt.Sprint(diags), "hunter2"):
			t.Errorf("%s: the diagnostic repeats the password: %v", tc.attrs, diags)
		}
	}
}
