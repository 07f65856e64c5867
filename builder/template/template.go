package template

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/flosch/pongo2/v6"
	"github.com/hashicorp/hcl/v2"
)

// Template is one LXD template: a pongo2 file the daemon renders into
// every instance created from the image. A recipe's template block
// decodes into one (recipe.Template embeds it), and the image stage
// writes it into metadata.yaml and templates/.
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

// Triggers are the `when` values LXD and Incus act on.
var Triggers = []string{"create", "copy", "start", "rename"}

// BannedTags are the pongo2 tags LXD and Incus refuse: each would
// read another file.
var BannedTags = []string{"extends", "import", "include", "ssi"}

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

// Error is a template the daemon would fail to parse or render.
// It names the template's target path, its file and the recipe block.
type Error struct {
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

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Template.Describe())
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

func (e *Error) Unwrap() error { return e.Err }

// Describe names a template for errors: its target, its file and where
// the recipe declares it.
func (t Template) Describe() string {
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

// Check parses t exactly as LXD and Incus do — wrapped in
// {% autoescape off %}, with the extends, import, include and ssi tags
// refused — and renders it for every trigger it lists, for each of the
// instances given, or when none are, for SampleInstances of a sample
// Debian image: a container and a virtual machine. Rendering catches
// what parsing cannot, such as config_get called with one argument.
// Parsing refuses what could make the daemon's renderer run without
// bound (see Parse); each render is bounded by RenderTimeout and
// MaxOutput. A disabled template is not checked. Errors are *Error.
func Check(t Template, instances ...Instance) error {
	if !t.Enabled {
		return nil
	}
	if err := CheckName(t.Name); err != nil {
		return &Error{Template: t, Err: err}
	}
	tpl, err := parseTemplate(t)
	if err != nil {
		return err
	}
	if len(instances) == 0 {
		instances = SampleInstances(sampleImage())
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

// Render renders t as the daemon would for inst on trigger.
func Render(t Template, inst Instance, trigger string) (string, error) {
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
	tpl, err := Parse(t.Content)
	if err != nil {
		te := &Error{Template: t, Err: err, parse: true}
		var se *SyntaxError
		if errors.As(err, &se) {
			te.Line, te.Column = se.Line, se.Column
		}
		return nil, te
	}
	return tpl, nil
}

func execute(tpl *pongo2.Template, t Template, inst Instance, trigger string, w io.Writer) error {
	if err := renderBounded(tpl, renderContext(t, inst, trigger), w, defaultRenderLimits); err != nil {
		return renderError(t, inst.Type, trigger, err)
	}
	return nil
}

// renderContext is the context of templateApplyNow in LXD's and Incus's
// lxc and qemu drivers.
func renderContext(t Template, inst Instance, trigger string) pongo2.Context {
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

// renderError turns a render error into an Error positioned
// in the template file rather than in LXD's wrapper.
func renderError(t Template, instType, trigger string, err error) *Error {
	se := syntaxError(err)
	return &Error{Template: t, InstanceType: instType, Trigger: trigger, Line: se.Line, Column: se.Column, Err: se.Err}
}

// SampleInstances returns the instances Check renders for: a container
// and a virtual machine of the image's architecture (LXD's name), with
// the image's properties as image.* config keys (as the daemon copies
// them at creation), a user.* key, volatile keys and a nic and a root
// disk.
func SampleInstances(architecture string, properties map[string]string) []Instance {
	config := func() map[string]string {
		c := map[string]string{
			"user.comment":        "sample instance of builder's template check",
			"volatile.base_image": strings.Repeat("0", 64),
			"volatile.uuid":       "00000000-0000-4000-8000-000000000000",
		}
		for k, v := range properties {
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
		{Name: "sample-container", Type: InstanceContainer, Architecture: architecture, Config: config(), Devices: devices()},
		{Name: "sample-vm", Type: InstanceVM, Architecture: architecture, Config: config(), Devices: devices()},
	}
}

// sampleImage stands for the image when Check is not told which one the
// template belongs to.
func sampleImage() (architecture string, properties map[string]string) {
	return "x86_64", map[string]string{
		"os": "debian", "release": "bookworm", "variant": "default", "architecture": "amd64",
		"description": "Debian bookworm amd64 (default)", "serial": "19700101_0000", "name": "debian-bookworm-amd64-default",
	}
}

// CheckName accepts a file name LXD can look up in templates/: not
// empty, no slash, not "." or "..".
func CheckName(name string) error {
	if name == "" {
		return errors.New("empty file name")
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not a bare file name", name)
	}
	return nil
}

// noFiles serves no files: the tags that would read one are banned, and
// nothing else may reach the host's filesystem.
type noFiles struct{}

func (noFiles) Abs(_, name string) string { return name }

func (noFiles) Get(path string) (io.Reader, error) {
	return nil, fmt.Errorf("templates cannot read other files (%s)", path)
}
