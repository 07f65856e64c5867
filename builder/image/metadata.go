package image

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/template"
)

// MetadataName is the file LXD and Incus look for at the root of the
// metadata (or unified) tarball; "./metadata.yaml" works too, nothing else.
const MetadataName = "metadata.yaml"

// MaxMetadataSize is how much of metadata.yaml LXD and Incus read: 1 MiB.
// A longer file is cut short and fails to parse at import.
const MaxMetadataSize = 1 << 20

// Spec is what the image stage takes from a recipe: the image block and
// the templates. recipe.Plan.ImageSpec makes one; this package cannot
// name a Plan because package recipe imports it (for Architecture).
type Spec struct {
	Name         string
	Distribution string
	Release      string
	Variant      string
	Description  string
	Architecture Architecture
	// Expiry is how long after creation the image expires; 0 means never.
	Expiry time.Duration
	// Serial is the recipe's own serial; empty derives it from the
	// creation time (see Serial).
	Serial string
	// Properties are the recipe's properties; they override the ones
	// derived from the fields above.
	Properties map[string]string
	// Templates are all template blocks, disabled ones included.
	Templates []template.Template
}

// Metadata is metadata.yaml, field for field as LXD's api.ImageMetadata
// and Incus's, which add uid, gid and mode to templates.
type Metadata struct {
	// Architecture is LXD's canonical name (x86_64, aarch64, …).
	Architecture string `yaml:"architecture"`
	// CreationDate is seconds since the epoch; LXD refuses 0.
	CreationDate int64 `yaml:"creation_date"`
	// ExpiryDate is seconds since the epoch, left out for an image that
	// never expires.
	ExpiryDate int64 `yaml:"expiry_date,omitempty"`
	// Properties is always written, even empty: the daemon adds the
	// properties of an upload to this map.
	Properties map[string]string `yaml:"properties"`
	// Templates maps the path in the instance to its template.
	Templates map[string]MetadataTemplate `yaml:"templates,omitempty"`
}

// MetadataTemplate is one entry of metadata.yaml's templates.
type MetadataTemplate struct {
	When       []string          `yaml:"when"`
	CreateOnly bool              `yaml:"create_only"`
	Template   string            `yaml:"template"`
	Properties map[string]string `yaml:"properties,omitempty"`
	// UID, GID and Mode (octal) are read by Incus and ignored by LXD;
	// they are written only when the recipe sets them.
	UID  string `yaml:"uid,omitempty"`
	GID  string `yaml:"gid,omitempty"`
	Mode string `yaml:"mode,omitempty"`
}

// NewMetadata builds metadata.yaml for spec. created is the build's
// creation time, from SOURCE_DATE_EPOCH when set (see SourceDateEpoch):
// it gives creation_date, expiry_date (created + Expiry) and the default
// serial, so the same recipe and epoch give the same bytes.
//
// The properties are os (the distribution), release, variant,
// architecture (the distribution's spelling), description, serial and
// name — what distrobuilder writes and incus-simplestreams requires —
// with the recipe's own properties overriding them. Empty derived values
// are left out. Only enabled templates are listed.
func NewMetadata(spec Spec, created time.Time) (Metadata, error) {
	if created.Unix() <= 0 {
		return Metadata{}, fmt.Errorf("building metadata.yaml: creation time %s is not after 1970-01-01: LXD refuses an image whose creation_date is 0", created.UTC().Format(time.RFC3339))
	}
	if spec.Expiry < 0 {
		return Metadata{}, fmt.Errorf("building metadata.yaml: negative expiry %s", spec.Expiry)
	}
	m := Metadata{
		Architecture: spec.Architecture.LXD,
		CreationDate: created.Unix(),
		Properties:   spec.properties(created),
	}
	if spec.Expiry > 0 {
		m.ExpiryDate = created.Add(spec.Expiry).Unix()
	}
	for _, t := range spec.Templates {
		if !t.Enabled {
			continue
		}
		if m.Templates == nil {
			m.Templates = map[string]MetadataTemplate{}
		}
		if _, dup := m.Templates[t.Path]; dup {
			return Metadata{}, fmt.Errorf("building metadata.yaml: %s: two enabled templates for the same path", t.Describe())
		}
		m.Templates[t.Path] = MetadataTemplate{
			When:       slices.Clone(t.When),
			CreateOnly: t.CreateOnly,
			Template:   t.Name,
			Properties: cloneMap(t.Properties),
			UID:        t.UID,
			GID:        t.GID,
			Mode:       t.Mode,
		}
	}
	if err := checkTemplateFiles(spec.Templates); err != nil {
		return Metadata{}, fmt.Errorf("building metadata.yaml: %w", err)
	}
	if err := m.Check(); err != nil {
		return Metadata{}, fmt.Errorf("building metadata.yaml: %w", err)
	}
	return m, nil
}

// CheckTemplates test-renders the spec's enabled templates (see
// template.Check) for a container and a virtual machine made from this
// image, with its own properties in their image.* config keys. Every
// failing template is reported.
func (s Spec) CheckTemplates() error {
	// Any time will do: only image.serial depends on it.
	m, err := NewMetadata(s, time.Unix(1, 0))
	if err != nil {
		return err
	}
	instances := template.SampleInstances(m.Architecture, m.Properties)
	var errs []error
	for _, t := range s.Templates {
		errs = append(errs, template.Check(t, instances...))
	}
	return errors.Join(errs...)
}

// properties derives the image properties, the recipe's winning.
func (s Spec) properties(created time.Time) map[string]string {
	props := s.DerivedProperties(created)
	for k, v := range s.Properties {
		props[k] = v
	}
	return props
}

// DerivedProperties are the properties builder derives from the spec's
// fields, those with a value only; the recipe's Properties override
// them.
func (s Spec) DerivedProperties(created time.Time) map[string]string {
	serial := s.Serial
	if serial == "" {
		serial = Serial(created)
	}
	props := map[string]string{}
	for k, v := range map[string]string{
		"os":           s.Distribution,
		"release":      s.Release,
		"variant":      s.Variant,
		"architecture": s.Architecture.Distribution,
		"description":  s.Description,
		"serial":       serial,
		"name":         s.Name,
	} {
		if v != "" {
			props[k] = v
		}
	}
	return props
}

// checkTemplateFiles refuses two enabled templates that would put
// different contents under one file name in templates/.
func checkTemplateFiles(ts []template.Template) error {
	byName := map[string]template.Template{}
	for _, t := range ts {
		if !t.Enabled {
			continue
		}
		if prev, ok := byName[t.Name]; ok && prev.Content != t.Content {
			return fmt.Errorf("%s and %s both name their file templates/%s with different contents", prev.Describe(), t.Describe(), t.Name)
		}
		byName[t.Name] = t
	}
	return nil
}

// Serial is the default image serial: the creation time in UTC as
// YYYYMMDD_hhmm, the form simplestreams clients sort versions by.
func Serial(created time.Time) string {
	return created.UTC().Format("20060102_1504")
}

// Check reports what would make LXD or Incus refuse the metadata at import
// or when an instance is created: a non-canonical architecture, no
// creation date, a template name that is not a bare file name, an
// unknown trigger, or uid, gid and mode that Incus cannot apply.
func (m Metadata) Check() error {
	var errs []error
	arch, err := LookupArchitecture(m.Architecture)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("architecture: %w", err))
	case arch.LXD != m.Architecture:
		errs = append(errs, fmt.Errorf("architecture %q: metadata.yaml takes LXD's canonical name, %s", m.Architecture, arch.LXD))
	}
	if m.CreationDate <= 0 {
		errs = append(errs, errors.New("creation_date is missing: LXD refuses the image"))
	}
	if m.ExpiryDate != 0 && m.ExpiryDate <= m.CreationDate {
		errs = append(errs, fmt.Errorf("expiry_date %d is not after creation_date %d", m.ExpiryDate, m.CreationDate))
	}
	for _, p := range sortedKeys(m.Templates) {
		if err := m.Templates[p].check(p); err != nil {
			errs = append(errs, fmt.Errorf("template for %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (t MetadataTemplate) check(path string) error {
	var errs []error
	if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, 0) {
		errs = append(errs, fmt.Errorf("the path %q is not an absolute path", path))
	}
	if err := template.CheckName(t.Template); err != nil {
		errs = append(errs, fmt.Errorf("template file: %w", err))
	}
	for _, w := range t.When {
		if !slices.Contains(template.Triggers, w) {
			errs = append(errs, fmt.Errorf("unknown trigger %q; LXD renders templates on %s", w, strings.Join(template.Triggers, ", ")))
		}
	}
	for _, id := range []struct{ name, val string }{{"uid", t.UID}, {"gid", t.GID}} {
		if id.val != "" && strings.Trim(id.val, "0123456789") != "" {
			errs = append(errs, fmt.Errorf("%s %q is not a number", id.name, id.val))
		}
	}
	if t.Mode != "" && (len(t.Mode) > 4 || strings.Trim(t.Mode, "01234567") != "") {
		errs = append(errs, fmt.Errorf("mode %q is not an octal mode", t.Mode))
	}
	return errors.Join(errs...)
}

// YAML returns metadata.yaml: struct fields in declaration order, map keys
// sorted, two-space indent, so equal metadata gives equal bytes. It
// refuses metadata that fails Check or is larger than MaxMetadataSize.
func (m Metadata) YAML() ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, fmt.Errorf("writing metadata.yaml: %w", err)
	}
	if m.Properties == nil {
		m.Properties = map[string]string{}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encoding metadata.yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding metadata.yaml: %w", err)
	}
	if buf.Len() > MaxMetadataSize {
		return nil, &MetadataTooLargeError{Size: buf.Len()}
	}
	return buf.Bytes(), nil
}

// MetadataTooLargeError is YAML's error for metadata.yaml larger than
// MaxMetadataSize; recipe validation finds the part to blame with it.
type MetadataTooLargeError struct {
	// Size is the encoded metadata.yaml's length in bytes.
	Size int
}

func (e *MetadataTooLargeError) Error() string {
	return fmt.Sprintf("metadata.yaml would be %d bytes, and LXD and Incus read at most %d (1 MiB): shorten the image's or the templates' properties", e.Size, MaxMetadataSize)
}

// checkBareName accepts a file name of an output directory, by the rule
// LXD applies to the files of templates/: a bare file name.
func checkBareName(name string) error { return template.CheckName(name) }

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
