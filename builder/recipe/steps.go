package recipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/step"
	"github.com/builder-images/builder/builder/steps"
)

// stepDecoder turns step blocks into Steps. Each kind's decoder returns
// its action and the attrDecoder it used, so the common parts (enabled,
// sensitive attributes) are read in one place.
type stepDecoder struct {
	ctx   *hcl.EvalContext
	diags *hcl.Diagnostics
	plan  *Plan
	// disabled is set while decoding a block whose enabled condition is
	// false: the files it names are neither read nor checked, since a
	// variant's files may exist only where that variant is built.
	disabled bool
}

// blockDisabled evaluates a block's enabled condition ahead of its other
// attributes. Errors are left for the decoder to report.
func (s *stepDecoder) blockDisabled(b *hclsyntax.Block) bool {
	attr, ok := b.Body.Attributes["enabled"]
	if !ok {
		return false
	}
	val, diags := attr.Expr.Value(s.ctx)
	if diags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() {
		return false
	}
	val, _ = val.Unmark()
	return val.Type() == cty.Bool && val.False()
}

func (s *stepDecoder) errorAt(rng hcl.Range, summary, detail string) {
	*s.diags = append(*s.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng})
}

// resolvePath resolves a host path written in the recipe against the
// recipe's directory.
func (s *stepDecoder) resolvePath(p string) string { return resolveAgainst(s.plan.Dir, p) }

func (s *stepDecoder) decode(b *hclsyntax.Block) (Step, bool) {
	s.disabled = s.blockDisabled(b)
	st := Step{Kind: b.Type, Range: b.DefRange()}
	if len(b.Labels) > 0 {
		st.Name = b.Labels[0]
	}
	var action step.Action
	var d *attrDecoder
	switch b.Type {
	case "bootstrap":
		st.Stage = StageBootstrap
		action, d = s.bootstrap(b)
	case "repository":
		st.Stage = StageRepositories
		action, d = s.repository(b)
	case "packages":
		st.Stage = StagePackages
		action, d = s.packages(b)
	case "file":
		st.Stage = StageFiles
		action, d = s.file(b)
	case "copy":
		st.Stage = StageFiles
		action, d = s.copy(b)
	case "remove":
		st.Stage = StageFiles
		action, d = s.remove(b)
	case "run":
		var run *steps.Run
		run, st.Stage, d = s.run(b)
		action = run
	}
	if d == nil {
		return Step{}, false
	}
	st.Action = action
	st.Enabled = d.boolean("enabled", true)
	st.enabledFailed = d.failed["enabled"]
	delete(d.sensitive, "enabled") // a condition, never printed as a value
	st.Sensitive = d.sensitiveNames()
	return st, true
}

// targetPath checks the path label of file, copy, remove and template.
func (s *stepDecoder) targetPath(b *hclsyntax.Block) {
	if msg := checkTargetPath(b.Labels[0]); msg != "" {
		s.errorAt(b.LabelRanges[0], "Invalid path", "The path "+msg)
		return
	}
	if b.Type == "template" {
		return // rendered in the instance, where these paths are real
	}
	if dir := buildOnlyDir(b.Labels[0]); dir != "" {
		s.errorAt(b.LabelRanges[0], "Path outside the image",
			fmt.Sprintf("During the build %s is the build's own filesystem (proc, sysfs or a tmpfs), so a %s block there would not reach the image; use a template, or a run step at first boot.", dir, b.Type))
	}
}

// buildOnlyDirs are mounted over the image while steps run.
var buildOnlyDirs = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}

// buildOnlyDir returns the build-only directory p lies in, or "".
func buildOnlyDir(p string) string {
	clean := path.Clean(p)
	for _, d := range buildOnlyDirs {
		if clean == d || strings.HasPrefix(clean, d+"/") {
			return d
		}
	}
	return ""
}

func (s *stepDecoder) repository(b *hclsyntax.Block) (*packages.Repository, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["repository"].attrs...)
	if msg := checkFileLabel("repository name", b.Labels[0]); msg != "" {
		s.errorAt(b.LabelRanges[0], "Invalid repository name", "The "+msg)
	}
	r := &packages.Repository{
		Name:          b.Labels[0],
		URL:           d.str("url", ""),
		Types:         d.strList("types", []string{"deb"}),
		Suites:        d.strList("suites", []string{s.plan.Image.Release}),
		Components:    d.strList("components", []string{"main"}),
		Architectures: d.strList("architectures", nil),
		Key:           d.str("key", ""),
		KeyFile:       d.str("key_file", ""),
	}
	if r.URL != "" {
		if msg := checkURL(r.URL, "http", "https", "file", "mirror+http", "mirror+https", "mirror+file"); msg != "" {
			d.errorf("url", "Invalid repository URL", "The url %s", msg)
		}
	}
	for i, t := range r.Types {
		if t != "deb" && t != "deb-src" {
			d.elementErrorf("types", i, "Invalid repository type", "Repository types are \"deb\" and \"deb-src\", not %q.", t)
		}
	}
	if len(r.Suites) == 0 {
		d.errorf("suites", "Empty suites", "A repository needs at least one suite.")
	}
	switch {
	case d.has("key") && d.has("key_file"):
		d.errorf("key_file", "Conflicting key attributes", "Give the signing key either inline with key or as a file with key_file, not both.")
	case r.Key != "" && !strings.Contains(r.Key, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):
		d.errorf("key", "Invalid repository key", "key must hold an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----); use key_file for a binary keyring.")
	case r.KeyFile != "":
		r.KeyFile = s.resolvePath(r.KeyFile)
		if st, err := os.Stat(r.KeyFile); !s.disabled && (err != nil || !st.Mode().IsRegular()) {
			d.errorf("key_file", "Missing key file", "The key file %s is not a readable regular file.", r.KeyFile)
		}
	}
	return r, d
}

func (s *stepDecoder) packages(b *hclsyntax.Block) (*packages.Config, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["packages"].attrs...)
	p := &packages.Config{
		Manager: d.str("manager", "apt"),
		Update:  d.boolean("update", false),
		Upgrade: d.boolean("upgrade", false),
		Install: d.strList("install", nil),
		Remove:  d.strList("remove", nil),
		Cleanup: d.boolean("cleanup", false),
	}
	if !slices.Contains(packages.ManagerNames(), p.Manager) {
		d.errorf("manager", "Unknown package manager", "There is no package manager %q; known: %s.", p.Manager, strings.Join(packages.ManagerNames(), ", "))
	}
	for _, list := range []string{"install", "remove"} {
		items := p.Install
		if list == "remove" {
			items = p.Remove
		}
		for i, name := range items {
			if msg := checkPackageName(name); msg != "" {
				d.elementErrorf(list, i, "Invalid package name", "%s", msg)
			}
		}
	}
	return p, d
}

// ownership reads mode, owner and group; ok is false when none is set.
func (s *stepDecoder) ownership(d *attrDecoder, defaultMode uint32) (steps.Ownership, bool) {
	o := steps.Ownership{Mode: defaultMode, Owner: d.str("owner", "root"), Group: d.str("group", "root")}
	if mode, ok := d.mode("mode"); ok {
		o.Mode = mode
	}
	for _, kind := range []string{"owner", "group"} {
		if msg := checkAccount(kind, d.str(kind, "root")); msg != "" {
			d.errorf(kind, "Invalid "+kind, "The %s", msg)
		}
	}
	return o, d.has("mode") || d.has("owner") || d.has("group")
}

func (s *stepDecoder) file(b *hclsyntax.Block) (*steps.File, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["file"].attrs...)
	s.targetPath(b)
	f := &steps.File{Path: b.Labels[0], Content: d.str("content", "")}
	f.Ownership, _ = s.ownership(d, 0o644)
	if s.exactlyOne(b, d, "content", "source", "Missing file content",
		"A file block needs exactly one of content (the text) or source (a file next to the recipe).") == "source" {
		f.Source, _ = s.hostSource(d, false)
	}
	return f, d
}

// exactlyOne checks that a block sets one of two alternative attributes
// and returns the one it sets, or "". A block with neither is reported
// at its header; one with both at the attribute written second.
func (s *stepDecoder) exactlyOne(b *hclsyntax.Block, d *attrDecoder, first, second, missingSummary, missingDetail string) string {
	switch {
	case d.has(first) && d.has(second):
		later := second
		if d.rangeOf(first).Start.Byte > d.rangeOf(second).Start.Byte {
			later = first
		}
		d.errorf(later, "Conflicting attributes",
			"A %s block takes either %s or %s, not both; remove one of them.", b.Type, first, second)
		return ""
	case d.has(first):
		return first
	case d.has(second):
		return second
	case d.misspelt[first] || d.misspelt[second]:
		return "" // the misspelt attribute is reported already
	}
	s.errorAt(b.DefRange(), missingSummary, missingDetail)
	return ""
}

// hostSource resolves the source attribute against the recipe's
// directory and checks it exists (a regular file unless dirOK). ok is
// false when the source was in error, reported already.
func (s *stepDecoder) hostSource(d *attrDecoder, dirOK bool) (path string, ok bool) {
	src := d.str("source", "")
	if src == "" {
		if d.has("source") {
			d.errorf("source", "Empty source", "source must name a file next to the recipe.")
		}
		return "", false
	}
	path = s.resolvePath(src)
	if s.disabled {
		return path, false
	}
	// A symlink is followed, as the build follows it: the recipe named it.
	st, err := os.Stat(path)
	switch {
	case err != nil:
		d.errorf("source", "Missing source", "The source %s cannot be read: %s. Relative paths are resolved against the recipe's directory.", describeLink(path), fsErr(err))
	case st.IsDir() && !dirOK:
		hint := ""
		if d.block.Type == "file" {
			hint = "; use a copy block for directories"
		}
		d.errorf("source", "Invalid source", "The source %s is a directory, but a %s block needs a file%s.", path, d.block.Type, hint)
	case !st.IsDir() && !st.Mode().IsRegular():
		d.errorf("source", "Invalid source", "The source %s is neither a regular file nor a directory.", path)
	default:
		return path, true
	}
	return path, false
}

// describeLink names path, and where it leads when it is a symlink.
func describeLink(path string) string {
	target, err := os.Readlink(path)
	if err != nil {
		return path
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(path), target)
	}
	return fmt.Sprintf("%s (a symbolic link to %s)", path, target)
}

// fsErr drops the operation and path from a file system error, which the
// diagnostics name themselves.
func fsErr(err error) error {
	var perr *fs.PathError
	if errors.As(err, &perr) {
		return perr.Err
	}
	return err
}

func (s *stepDecoder) copy(b *hclsyntax.Block) (*steps.Copy, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["copy"].attrs...)
	s.targetPath(b)
	c := &steps.Copy{Path: b.Labels[0]}
	c.Source, _ = s.hostSource(d, true)
	// Mode 0 keeps each copied file's own mode: setting only an owner
	// must not take the execute bit off copied scripts.
	if o, set := s.ownership(d, 0); set {
		c.Ownership = &o
	}
	return c, d
}

func (s *stepDecoder) remove(b *hclsyntax.Block) (*steps.Remove, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["remove"].attrs...)
	s.targetPath(b)
	return &steps.Remove{Path: b.Labels[0], MissingOK: d.boolean("missing_ok", false)}, d
}

// readScript reads a run step's source into r.Script; ok is false when
// it could not, reported already.
func (s *stepDecoder) readScript(d *attrDecoder, r *steps.Run) bool {
	path, ok := s.hostSource(d, false)
	if !ok {
		return false
	}
	body, err := os.ReadFile(path)
	if err != nil {
		d.errorf("source", "Unreadable script", "Reading %s: %s.", path, fsErr(err))
		return false
	}
	r.Script = string(body)
	return true
}

func (s *stepDecoder) run(b *hclsyntax.Block) (*steps.Run, Stage, *attrDecoder) {
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["run"].attrs...)
	r := &steps.Run{Name: b.Labels[0], Script: d.str("script", "")}
	if msg := checkFileLabel("run name", r.Name); msg != "" {
		s.errorAt(b.LabelRanges[0], "Invalid run name", "The "+msg)
	}
	stageName := d.str("stage", "post-packages")
	stage, ok := runStages[stageName]
	if !ok {
		names := sortedKeys(runStages)
		d.errorf("stage", "Unknown run stage", "A run step's stage is one of %s, not %q%s.", strings.Join(names, ", "), stageName, suggest(stageName, names))
		stage = StagePostPackages
	}
	switch s.exactlyOne(b, d, "script", "source", "Missing script",
		"A run block needs exactly one of script (the text) or source (a script file next to the recipe).") {
	case "script":
		if strings.TrimSpace(r.Script) == "" {
			d.errorf("script", "Empty script", "The run step %q has an empty script.", r.Name)
		}
	case "source":
		if s.readScript(d, r) && strings.TrimSpace(r.Script) == "" {
			d.errorf("source", "Empty script", "The run step %q has an empty script: its source file holds no commands.", r.Name)
		}
	}
	env := d.strMap("environment")
	for _, name := range sortedKeys(env) {
		if msg := checkEnvName(name); msg != "" {
			d.errorf("environment", "Invalid environment variable name", "The name %s", msg)
			continue
		}
		r.Environment = append(r.Environment, steps.EnvVar{Name: name, Value: env[name], Sensitive: d.sensitiveKey("environment", name)})
	}
	if d.has("timeout") {
		var msg string
		if r.Timeout, msg = parseDuration(d.str("timeout", "")); msg != "" {
			d.errorf("timeout", "Invalid timeout", "The timeout: %s", msg)
		}
	}
	r.Capabilities = runCapabilities(d)
	return r, stage, d
}

// runCapabilities reads a run step's extra capabilities as canonical
// names, each checked against the kernel's list.
func runCapabilities(d *attrDecoder) []string {
	var out []string
	for i, name := range d.strList("capabilities", nil) {
		canonical, ok := capability.Canonical(name)
		if !ok {
			d.elementErrorf("capabilities", i, "Unknown capability",
				"%q is not a Linux capability: give a name of capabilities(7) such as \"SYS_ADMIN\", or %q for all of them%s.",
				name, capability.All, suggest(canonical, capability.Names()))
			continue
		}
		out = append(out, canonical)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
