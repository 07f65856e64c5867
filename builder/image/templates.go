package image

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flosch/pongo2/v6"
	"github.com/hashicorp/hcl/v2"
)

// Template is one template block of a recipe (recipe.Template without the
// recipe's bookkeeping): a pongo2 file the daemon renders into every
// instance created from the image.
type Template struct {
	// Path is where the instance gets the rendered file.
	Path string
	// Name is the bare file name under templates/ in the image.
	Name string
	// Content is the pongo2 source; Source the host file it was read
	// from, empty for a template written inline in the recipe.
	Content string
	Source  string
	// When lists the triggers: create, copy, start, rename.
	When       []string
	CreateOnly bool
	// Properties are the template's own, `properties` when it renders.
	Properties map[string]string
	// UID, GID and Mode are honoured by Incus and ignored by LXD.
	UID, GID, Mode string
	Enabled        bool
	// Range is the recipe's template block; zero when unknown.
	Range hcl.Range
}

// templateTriggers are the `when` values LXD and Incus act on.
var templateTriggers = []string{"create", "copy", "start", "rename"}

// bannedTemplateTags are the pongo2 tags LXD and Incus refuse: each would
// read another file.
var bannedTemplateTags = []string{"extends", "import", "include", "ssi"}

// LXD wraps every template in these before parsing it, so a template's
// first line is read 20 columns further right than it is written.
const (
	autoescapeOpen  = "{% autoescape off %}"
	autoescapeClose = "{% endautoescape %}"
)

// Instance types, as templates see them in instance.type.
const (
	InstanceContainer = "container"
	InstanceVM        = "virtual-machine"
)

// Instance is what LXD and Incus tell a template about the instance it
// renders for.
type Instance struct {
	Name string
	// Type is InstanceContainer or InstanceVM.
	Type string
	// Architecture is LXD's canonical name.
	Architecture string
	Ephemeral    bool
	// Privileged is given to container templates only.
	Privileged bool
	// Config is the expanded instance config: image.* (the image's
	// properties), user.*, cloud-init.*, volatile.* …
	Config map[string]string
	// Devices is the expanded device list.
	Devices map[string]map[string]string
}

// TemplateError is a template the daemon would fail to parse or render.
// It names the template's target path, its file and the recipe block.
type TemplateError struct {
	Template Template
	// InstanceType and Trigger are set when rendering failed, empty when
	// the template does not parse.
	InstanceType, Trigger string
	// Line and Column locate the error in the template file, 0 when
	// pongo2 gives no position.
	Line, Column int
	Err          error
	// parse is set when pongo2 refused the template's syntax.
	parse bool
}

func (e *TemplateError) Error() string {
	var b strings.Builder
	b.WriteString(e.Template.describe())
	switch {
	case e.InstanceType != "":
		fmt.Fprintf(&b, ": rendering for a %s on %q", e.InstanceType, e.Trigger)
	case e.parse:
		b.WriteString(": parsing")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d, column %d", e.Line, e.Column)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *TemplateError) Unwrap() error { return e.Err }

// describe names a template for errors: its target, its file and where
// the recipe declares it.
func (t Template) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "template %s (templates/%s", t.Path, t.Name)
	if t.Source != "" {
		fmt.Fprintf(&b, " from %s", t.Source)
	}
	if t.Range.Filename != "" {
		fmt.Fprintf(&b, ", block at %s:%d", t.Range.Filename, t.Range.Start.Line)
	}
	b.WriteString(")")
	return b.String()
}

// CheckTemplate parses t exactly as LXD and Incus do — wrapped in
// {% autoescape off %}, with the extends, import, include and ssi tags
// refused — and renders it for every trigger it lists, for each of the
// instances given, or when none are, for SampleInstances of a sample
// Debian image: a container and a virtual machine. Rendering catches
// what parsing cannot, such as config_get called with one argument.
// Parsing refuses what could make the daemon's renderer run without
// bound (see ParseTemplateBody); each render is bounded by
// TemplateRenderTimeout and MaxTemplateOutput.
// A disabled template is not checked. Errors are *TemplateError.
func CheckTemplate(t Template, instances ...Instance) error {
	if !t.Enabled {
		return nil
	}
	if err := checkBareName(t.Name); err != nil {
		return &TemplateError{Template: t, Err: err}
	}
	tpl, err := parseTemplate(t)
	if err != nil {
		return err
	}
	if len(instances) == 0 {
		instances = SampleInstances(sampleMetadata())
	}
	triggers := t.When
	if len(triggers) == 0 {
		triggers = []string{"create"}
	}
	for _, inst := range instances {
		for _, trigger := range triggers {
			if err := execute(tpl, t, inst, trigger, io.Discard); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckTemplates checks the spec's enabled templates against a container
// and a virtual machine made from this image, with its own properties
// in their image.* config keys. Every failing template is reported.
func (s Spec) CheckTemplates() error {
	// Any time will do: only image.serial depends on it.
	m, err := NewMetadata(s, time.Unix(1, 0))
	if err != nil {
		return err
	}
	instances := SampleInstances(m)
	var errs []error
	for _, t := range s.Templates {
		errs = append(errs, CheckTemplate(t, instances...))
	}
	return errors.Join(errs...)
}

// RenderTemplate renders t as the daemon would for inst on trigger.
func RenderTemplate(t Template, inst Instance, trigger string) (string, error) {
	tpl, err := parseTemplate(t)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := execute(tpl, t, inst, trigger, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

func parseTemplate(t Template) (*pongo2.Template, error) {
	tpl, err := ParseTemplateBody(t.Content)
	if err != nil {
		te := &TemplateError{Template: t, Err: err, parse: true}
		var se *TemplateSyntaxError
		if errors.As(err, &se) {
			te.Line, te.Column = se.Line, se.Column
		}
		return nil, te
	}
	return tpl, nil
}

func execute(tpl *pongo2.Template, t Template, inst Instance, trigger string, w io.Writer) error {
	if err := renderBounded(tpl, templateContext(t, inst, trigger), w, defaultRenderLimits); err != nil {
		return templateError(t, inst.Type, trigger, err)
	}
	return nil
}

// templateContext is the context of templateApplyNow in LXD's and Incus's
// lxc and qemu drivers.
func templateContext(t Template, inst Instance, trigger string) pongo2.Context {
	meta := map[string]string{
		"name":         inst.Name,
		"type":         inst.Type,
		"architecture": inst.Architecture,
		"ephemeral":    strconv.FormatBool(inst.Ephemeral),
	}
	if inst.Type == InstanceContainer {
		meta["privileged"] = strconv.FormatBool(inst.Privileged)
	}
	config := inst.Config
	if config == nil {
		config = map[string]string{}
	}
	devices := inst.Devices
	if devices == nil {
		devices = map[string]map[string]string{}
	}
	props := t.Properties
	if props == nil {
		props = map[string]string{}
	}
	configGet := func(key, fallback *pongo2.Value) *pongo2.Value {
		val, ok := config[key.String()]
		if !ok {
			return fallback
		}
		return pongo2.AsValue(strings.TrimRight(val, "\r\n"))
	}
	return pongo2.Context{
		"trigger":    trigger,
		"path":       t.Path,
		"instance":   meta,
		"container":  meta, // the legacy name, still in most images
		"config":     config,
		"devices":    devices,
		"properties": props,
		"config_get": configGet,
	}
}

// templateError turns a render error into a TemplateError positioned
// in the template file rather than in LXD's wrapper.
func templateError(t Template, instType, trigger string, err error) *TemplateError {
	se := syntaxError(err)
	return &TemplateError{Template: t, InstanceType: instType, Trigger: trigger, Line: se.Line, Column: se.Column, Err: se.Err}
}

// SampleInstances returns the instances CheckTemplate renders for: a
// container and a virtual machine of m's architecture, with m's properties
// as image.* config keys (as the daemon copies them at creation), a user.*
// key, volatile keys and a nic and a root disk.
func SampleInstances(m Metadata) []Instance {
	config := func() map[string]string {
		c := map[string]string{
			"user.comment":        "sample instance of builder's template check",
			"volatile.base_image": strings.Repeat("0", 64),
			"volatile.uuid":       "00000000-0000-4000-8000-000000000000",
		}
		for k, v := range m.Properties {
			c["image."+k] = v
		}
		return c
	}
	devices := func() map[string]map[string]string {
		return map[string]map[string]string{
			"eth0": {"type": "nic", "name": "eth0", "network": "lxdbr0"},
			"root": {"type": "disk", "path": "/", "pool": "default"},
		}
	}
	return []Instance{
		{Name: "sample-container", Type: InstanceContainer, Architecture: m.Architecture, Config: config(), Devices: devices()},
		{Name: "sample-vm", Type: InstanceVM, Architecture: m.Architecture, Config: config(), Devices: devices()},
	}
}

// sampleMetadata stands for the image when CheckTemplate is not told
// which one the template belongs to.
func sampleMetadata() Metadata {
	return Metadata{
		Architecture: "x86_64",
		CreationDate: 1,
		Properties: map[string]string{
			"os": "debian", "release": "bookworm", "variant": "default", "architecture": "amd64",
			"description": "Debian bookworm amd64 (default)", "serial": "19700101_0000", "name": "debian-bookworm-amd64-default",
		},
	}
}

// noFiles serves no files: the tags that would read one are banned, and
// nothing else may reach the host's filesystem.
type noFiles struct{}

func (noFiles) Abs(_, name string) string { return name }

func (noFiles) Get(path string) (io.Reader, error) {
	return nil, fmt.Errorf("templates cannot read other files (%s)", path)
}
