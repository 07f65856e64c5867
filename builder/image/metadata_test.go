package image_test

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/template"
)

// created is the fixed build time of the golden files:
// SOURCE_DATE_EPOCH=1704164645, 2024-01-02T03:04:05Z.
var created = time.Unix(1704164645, 0)

// lxdImageMetadata is LXD's api.ImageMetadata with its yaml names; LXD
// has no uid, gid or mode in templates.
type lxdImageMetadata struct {
	Architecture string                               `yaml:"architecture"`
	CreationDate int64                                `yaml:"creation_date"`
	ExpiryDate   int64                                `yaml:"expiry_date"`
	Properties   map[string]string                    `yaml:"properties"`
	Templates    map[string]*lxdImageMetadataTemplate `yaml:"templates"`
}

type lxdImageMetadataTemplate struct {
	When       []string          `yaml:"when"`
	CreateOnly bool              `yaml:"create_only"`
	Template   string            `yaml:"template"`
	Properties map[string]string `yaml:"properties"`
}

// incusImageMetadata is Incus's, whose templates add uid, gid and mode.
type incusImageMetadata struct {
	Architecture string                                 `yaml:"architecture"`
	CreationDate int64                                  `yaml:"creation_date"`
	ExpiryDate   int64                                  `yaml:"expiry_date"`
	Properties   map[string]string                      `yaml:"properties"`
	Templates    map[string]*incusImageMetadataTemplate `yaml:"templates"`
}

type incusImageMetadataTemplate struct {
	When       []string          `yaml:"when"`
	CreateOnly bool              `yaml:"create_only"`
	Template   string            `yaml:"template"`
	Properties map[string]string `yaml:"properties"`
	UID        string            `yaml:"uid"`
	GID        string            `yaml:"gid"`
	Mode       string            `yaml:"mode"`
}

func loadPlan(t *testing.T, path string, vars ...string) *recipe.Plan {
	t.Helper()
	plan, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64", Vars: vars})
	if diags.HasErrors() {
		t.Fatalf("loading %s: %s", path, diags.Error())
	}
	return plan
}

// TestShippedRecipeTemplates checks the debian cloud variant's templates
// against instances of that very image (its properties as image.*).
func TestShippedRecipeTemplates(t *testing.T) {
	for _, vars := range [][]string{nil, {"variant=cloud"}} {
		plan := loadPlan(t, "../../recipes/debian.hcl", vars...)
		if err := plan.ImageSpec().CheckTemplates(); err != nil {
			t.Errorf("%v: %v", vars, err)
		}
		for _, tpl := range plan.Templates {
			if err := template.Check(tpl.Template); err != nil {
				t.Errorf("%v: %v", vars, err)
			}
		}
	}
}

// strictDecode decodes data into out, refusing fields out does not have.
func strictDecode(t *testing.T, data []byte, out any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		t.Fatalf("decoding metadata.yaml into %T: %v", out, err)
	}
}

// TestMetadataGolden writes metadata.yaml for the shipped recipes and
// compares it with testdata; it then reads it back the way LXD does.
func TestMetadataGolden(t *testing.T) {
	tests := []struct {
		golden, recipe string
		vars           []string
		templates      []string
	}{
		{"debian-default.metadata.yaml", "../../recipes/debian.hcl", nil, []string{"/etc/hostname", "/etc/hosts"}},
		{"debian-cloud.metadata.yaml", "../../recipes/debian.hcl", []string{"variant=cloud"}, []string{
			"/etc/hostname", "/etc/hosts",
			"/var/lib/cloud/seed/nocloud-net/meta-data", "/var/lib/cloud/seed/nocloud-net/network-config",
			"/var/lib/cloud/seed/nocloud-net/user-data", "/var/lib/cloud/seed/nocloud-net/vendor-data",
		}},
		{"busybox.metadata.yaml", "../../recipes/busybox.hcl", nil, []string{"/etc/hostname", "/etc/hosts"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			plan := loadPlan(t, tt.recipe, tt.vars...)
			m, err := image.NewMetadata(plan.ImageSpec(), created)
			if err != nil {
				t.Fatal(err)
			}
			data, err := m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, data)

			// Deterministic: a second build gives the same bytes.
			m2, _ := image.NewMetadata(loadPlan(t, tt.recipe, tt.vars...).ImageSpec(), created)
			if data2, _ := m2.YAML(); !bytes.Equal(data, data2) {
				t.Error("two builds of the same recipe and time gave different metadata.yaml")
			}

			// LXD's struct takes every field: nothing is lost or unknown.
			var lxd lxdImageMetadata
			strictDecode(t, data, &lxd)
			if lxd.Architecture != "x86_64" || lxd.CreationDate != created.Unix() {
				t.Errorf("architecture %q, creation_date %d", lxd.Architecture, lxd.CreationDate)
			}
			if lxd.ExpiryDate <= lxd.CreationDate {
				t.Errorf("expiry_date %d not after creation_date", lxd.ExpiryDate)
			}
			if got := sortedKeys(lxd.Templates); !reflect.DeepEqual(got, tt.templates) {
				t.Errorf("templates %v, want the enabled ones %v", got, tt.templates)
			}
			for _, k := range []string{"os", "release", "variant", "architecture", "description", "serial", "name"} {
				if lxd.Properties[k] == "" {
					t.Errorf("property %s missing", k)
				}
			}
			// And back into our own type, equal to what was written.
			var back image.Metadata
			strictDecode(t, data, &back)
			if !reflect.DeepEqual(back, m) {
				t.Errorf("round trip changed the metadata:\n got %+v\nwant %+v", back, m)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func baseSpec() image.Spec {
	return image.Spec{
		Name: "debian-bookworm-amd64-default", Distribution: "debian", Release: "bookworm", Variant: "default",
		Description:  "Debian bookworm amd64 (default)",
		Architecture: image.Architecture{Distribution: "amd64", LXD: "x86_64"},
		Expiry:       30 * 24 * time.Hour,
		Templates: []template.Template{
			{Path: "/etc/hostname", Name: "hostname.tpl", Content: "{{ container.name }}\n", When: []string{"create", "copy"}, Enabled: true},
			{Path: "/etc/motd", Name: "motd.tpl", Content: "hi\n", When: []string{"start"}, Enabled: false},
		},
	}
}

// TestNewMetadata checks each rule of NewMetadata on a Spec.
func TestNewMetadata(t *testing.T) {
	tests := []struct {
		name   string
		change func(*image.Spec)
		check  func(t *testing.T, m image.Metadata, y string)
	}{
		{"defaults", func(*image.Spec) {}, func(t *testing.T, m image.Metadata, y string) {
			want := map[string]string{
				"os": "debian", "release": "bookworm", "variant": "default", "architecture": "amd64",
				"description": "Debian bookworm amd64 (default)", "serial": "20240102_0304", "name": "debian-bookworm-amd64-default",
			}
			if !reflect.DeepEqual(m.Properties, want) {
				t.Errorf("properties %v, want %v", m.Properties, want)
			}
			if m.Architecture != "x86_64" {
				t.Errorf("architecture %q, want LXD's x86_64", m.Architecture)
			}
			if m.ExpiryDate != created.Add(30*24*time.Hour).Unix() {
				t.Errorf("expiry_date %d", m.ExpiryDate)
			}
			if _, ok := m.Templates["/etc/motd"]; ok || len(m.Templates) != 1 {
				t.Errorf("templates %v: want only the enabled one", m.Templates)
			}
			for _, key := range []string{"uid:", "gid:", "mode:"} {
				if strings.Contains(y, key) {
					t.Errorf("%s written although the recipe does not set it", key)
				}
			}
		}},
		{"never expires", func(s *image.Spec) { s.Expiry = 0 }, func(t *testing.T, m image.Metadata, y string) {
			if m.ExpiryDate != 0 || strings.Contains(y, "expiry_date") {
				t.Errorf("expiry_date written for an image that never expires:\n%s", y)
			}
		}},
		{"recipe properties win", func(s *image.Spec) {
			s.Properties = map[string]string{"os": "Debian", "serial": "custom", "requirements.nesting": "true"}
		}, func(t *testing.T, m image.Metadata, y string) {
			if m.Properties["os"] != "Debian" || m.Properties["serial"] != "custom" || m.Properties["requirements.nesting"] != "true" {
				t.Errorf("properties %v", m.Properties)
			}
		}},
		{"recipe serial", func(s *image.Spec) { s.Serial = "20230101_1200" }, func(t *testing.T, m image.Metadata, y string) {
			if m.Properties["serial"] != "20230101_1200" {
				t.Errorf("serial %q", m.Properties["serial"])
			}
		}},
		{"empty values left out", func(s *image.Spec) { s.Variant = "" }, func(t *testing.T, m image.Metadata, y string) {
			if _, ok := m.Properties["variant"]; ok {
				t.Errorf("empty variant written")
			}
		}},
		{"uid gid mode when set", func(s *image.Spec) {
			s.Templates[0].UID, s.Templates[0].GID, s.Templates[0].Mode = "0", "4", "0640"
			s.Templates[0].Properties = map[string]string{"k": "v"}
			s.Templates[0].CreateOnly = true
		}, func(t *testing.T, m image.Metadata, y string) {
			var incus incusImageMetadata
			strictDecode(t, []byte(y), &incus)
			got := *incus.Templates["/etc/hostname"]
			want := incusImageMetadataTemplate{When: []string{"create", "copy"}, CreateOnly: true, Template: "hostname.tpl", Properties: map[string]string{"k": "v"}, UID: "0", GID: "4", Mode: "0640"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Incus reads %+v, want %+v", got, want)
			}
			// LXD, which does not know the fields, still reads the rest.
			var lxd lxdImageMetadata
			if err := yaml.Unmarshal([]byte(y), &lxd); err != nil || lxd.Templates["/etc/hostname"].Template != "hostname.tpl" {
				t.Errorf("LXD's struct: %v, %+v", err, lxd.Templates["/etc/hostname"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			tt.change(&spec)
			m, err := image.NewMetadata(spec, created)
			if err != nil {
				t.Fatal(err)
			}
			y, err := m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, m, string(y))
		})
	}
}

func TestNewMetadataErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*image.Spec)
		created time.Time
		want    string
	}{
		{"creation at the epoch", func(*image.Spec) {}, time.Unix(0, 0), "creation_date is 0"},
		{"no architecture", func(s *image.Spec) { s.Architecture = image.Architecture{} }, created, "architecture"},
		{"distribution spelling", func(s *image.Spec) { s.Architecture.LXD = "amd64" }, created, "canonical name, x86_64"},
		{"negative expiry", func(s *image.Spec) { s.Expiry = -time.Hour }, created, "negative expiry"},
		{"template name with a slash", func(s *image.Spec) { s.Templates[0].Name = "../hostname.tpl" }, created, "not a bare file name"},
		{"relative template path", func(s *image.Spec) { s.Templates[0].Path = "etc/hostname" }, created, "not an absolute path"},
		{"unknown trigger", func(s *image.Spec) { s.Templates[0].When = []string{"boot"} }, created, `unknown trigger "boot"`},
		{"bad mode", func(s *image.Spec) { s.Templates[0].Mode = "rw-r--r--" }, created, "not an octal mode"},
		{"duplicate path", func(s *image.Spec) {
			s.Templates[1].Enabled, s.Templates[1].Path = true, "/etc/hostname"
		}, created, "two enabled templates for the same path"},
		{"one file name, two contents", func(s *image.Spec) {
			s.Templates[1].Enabled, s.Templates[1].Name = true, "hostname.tpl"
		}, created, "different contents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			tt.change(&spec)
			_, err := image.NewMetadata(spec, tt.created)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestMetadataTooLarge: LXD reads 1 MiB of metadata.yaml; more is refused
// at build time rather than failing at import.
func TestMetadataTooLarge(t *testing.T) {
	spec := baseSpec()
	spec.Properties = map[string]string{"description": strings.Repeat("x", image.MaxMetadataSize)}
	m, err := image.NewMetadata(spec, created)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.YAML(); err == nil || !strings.Contains(err.Error(), "at most 1048576") {
		t.Fatalf("YAML() error %v, want the 1 MiB limit", err)
	}
	// Just under the limit passes.
	spec.Properties["description"] = strings.Repeat("x", image.MaxMetadataSize-2048)
	m, _ = image.NewMetadata(spec, created)
	if data, err := m.YAML(); err != nil || len(data) > image.MaxMetadataSize {
		t.Fatalf("YAML() of %d bytes: %v", len(data), err)
	}
}

func TestSerial(t *testing.T) {
	// The serial is in UTC whatever the time's location.
	loc := time.FixedZone("UTC+5", 5*3600)
	if got := image.Serial(time.Date(2024, 1, 2, 8, 4, 5, 0, loc)); got != "20240102_0304" {
		t.Errorf("Serial = %q, want 20240102_0304", got)
	}
}
