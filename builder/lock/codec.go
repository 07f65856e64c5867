package lock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// The file's shape:
//
//	build {
//	  architecture  = "amd64"
//	  variant       = "default"
//	  instance_type = "container"
//	  mirror        = "http://…"          # only when the recipe names none
//	  suite "bookworm-security" {         # the tool's other suites, then
//	    url        = "http://…"
//	    components = "main"
//	  }
//	  input "files/x.conf" {
//	    step   = "file \"/etc/x.conf\""
//	    digest = "sha256:…"
//	  }
//	  package "adduser" {
//	    version      = "3.134"
//	    architecture = "all"
//	    source       = "…"                # when dpkg names one
//	  }
//	}

// What a value may hold. They go into apt preferences and messages, so a
// lock cannot smuggle a newline or an option into either (Debian policy
// 5.6.1, 5.6.12).
var (
	validName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*$`)
	validVersion = regexp.MustCompile(`^[A-Za-z0-9.+~:-]+$`)
	validArch    = regexp.MustCompile(`^[a-z0-9-]+$`)
	validDigest  = regexp.MustCompile(`^sha256:[0-9a-f]{32,64}$`)
	validText    = regexp.MustCompile(`^[^\x00-\x1f\x7f]*$`)
	// A suite ("bookworm-security", "buster/updates") and its
	// components, as a sources.list line names them.
	validSuite      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~/-]*$`)
	validComponents = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+/-]*( [A-Za-z0-9][A-Za-z0-9._+/-]*)*$`)
)

// Encode renders f as a lock file, Header first.
func Encode(f *File) []byte {
	out := hclwrite.NewEmptyFile()
	body := out.Body()
	for i, b := range f.Blocks {
		if i > 0 {
			body.AppendNewline()
		}
		bb := body.AppendNewBlock("build", nil).Body()
		bb.SetAttributeValue("architecture", cty.StringVal(b.Architecture))
		bb.SetAttributeValue("variant", cty.StringVal(b.Variant))
		bb.SetAttributeValue("instance_type", cty.StringVal(b.InstanceType))
		if b.Mirror != "" {
			bb.SetAttributeValue("mirror", cty.StringVal(b.Mirror))
		}
		for _, src := range b.Suites {
			bb.AppendNewline()
			sb := bb.AppendNewBlock("suite", []string{src.Suite}).Body()
			sb.SetAttributeValue("url", cty.StringVal(src.URL))
			sb.SetAttributeValue("components", cty.StringVal(strings.Join(src.Components, " ")))
		}
		for _, in := range b.Inputs {
			bb.AppendNewline()
			ib := bb.AppendNewBlock("input", []string{in.Path}).Body()
			ib.SetAttributeValue("step", cty.StringVal(in.Step))
			ib.SetAttributeValue("digest", cty.StringVal(in.Digest))
		}
		for _, p := range b.Packages {
			bb.AppendNewline()
			pb := bb.AppendNewBlock("package", []string{p.Name}).Body()
			pb.SetAttributeValue("version", cty.StringVal(p.Version))
			pb.SetAttributeValue("architecture", cty.StringVal(p.Architecture))
			if p.Source != "" {
				pb.SetAttributeValue("source", cty.StringVal(p.Source))
			}
		}
	}
	return append([]byte(Header+"\n"), hclwrite.Format(out.Bytes())...)
}

// Write writes f to path atomically: a new temporary file beside it
// (O_EXCL, so that a planted file or symlink of that name is never
// written through: builder lock runs as root), synced, then renamed
// over it. An interrupted write leaves the old lock file as it was.
func Write(path string, f *File) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing the lock file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(Encode(f)); err != nil {
		return fmt.Errorf("writing the lock file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing the lock file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing the lock file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the lock file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the lock file: %w", err)
	}
	return nil
}

// maxLockSize bounds what Read reads: a Debian image's lock is some
// hundred kilobytes.
const maxLockSize = 16 << 20

// Read reads the lock file at path, which must be a regular file (not a
// FIFO or a device that would block or never end).
func Read(path string) (*File, error) {
	fd, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the lock file: %w", err)
	}
	defer fd.Close()
	info, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the lock file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("reading the lock file: %s is not a regular file (%s)", path, info.Mode().Type())
	}
	src, err := io.ReadAll(io.LimitReader(fd, maxLockSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the lock file: %w", err)
	}
	if len(src) > maxLockSize {
		return nil, fmt.Errorf("reading the lock file: %s is larger than %d MiB", path, maxLockSize>>20)
	}
	return Parse(src, path)
}

// Parse reads a lock file's bytes; errors name filename:line:col.
func Parse(src []byte, filename string) (*File, error) {
	parsed, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	body := parsed.Body.(*hclsyntax.Body)
	var errs []error
	for _, a := range body.Attributes {
		errs = append(errs, at(a.NameRange, "unexpected attribute %q: a lock file holds build blocks", a.Name))
	}
	f := &File{}
	seen := map[Key]hcl.Range{}
	for _, b := range body.Blocks {
		if b.Type != "build" || len(b.Labels) != 0 {
			errs = append(errs, at(b.TypeRange, "unexpected block %s: a lock file holds build blocks without labels", b.Type))
			continue
		}
		blk, err := parseBuild(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := seen[blk.Key]; dup {
			errs = append(errs, at(b.TypeRange, "a second build block for %s (the first is at line %d)", blk.Key, first.Start.Line))
			continue
		}
		seen[blk.Key] = b.TypeRange
		f.Blocks = append(f.Blocks, blk)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func parseBuild(b *hclsyntax.Block) (Block, error) {
	var blk Block
	attrs, err := stringAttrs(b.Body, map[string]*regexp.Regexp{
		"architecture": validArch, "variant": validText, "instance_type": validText, "mirror": validText,
	}, "architecture", "instance_type")
	if err != nil {
		return blk, err
	}
	blk.Architecture, blk.Variant, blk.InstanceType, blk.Mirror = attrs["architecture"], attrs["variant"], attrs["instance_type"], attrs["mirror"]
	var errs []error
	if blk.Mirror != "" && !validMirror(blk.Mirror) {
		// It becomes a line of the archive check's sources.list: a
		// space would add suites or components to it.
		errs = append(errs, at(b.Body.Attributes["mirror"].Expr.Range(), "mirror %q is not an http, https or file URL", blk.Mirror))
	}
	seen := map[string]int{}
	seenInput := map[[2]string]int{}
	for _, c := range b.Body.Blocks {
		switch {
		case c.Type == "input" && len(c.Labels) == 1:
			a, err := stringAttrs(c.Body, map[string]*regexp.Regexp{"step": validText, "digest": validDigest}, "step", "digest")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !validText.MatchString(c.Labels[0]) || c.Labels[0] == "" {
				errs = append(errs, at(c.LabelRanges[0], "input %q is not a path", c.Labels[0]))
				continue
			}
			// Two digests for one input would let either pass.
			id := [2]string{c.Labels[0], a["step"]}
			if line, dup := seenInput[id]; dup {
				errs = append(errs, at(c.TypeRange, "input %q (%s) is locked twice (also at line %d)", c.Labels[0], a["step"], line))
				continue
			}
			seenInput[id] = c.TypeRange.Start.Line
			blk.Inputs = append(blk.Inputs, Input{Path: c.Labels[0], Step: a["step"], Digest: a["digest"]})
		case c.Type == "suite" && len(c.Labels) == 1:
			a, err := stringAttrs(c.Body, map[string]*regexp.Regexp{"url": validText, "components": validComponents}, "url", "components")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			switch {
			case !validSuite.MatchString(c.Labels[0]):
				errs = append(errs, at(c.LabelRanges[0], "suite %q is not a suite name", c.Labels[0]))
			case !validMirror(a["url"]):
				errs = append(errs, at(c.Body.Attributes["url"].Expr.Range(), "url %q is not an http, https or file URL", a["url"]))
			default:
				blk.Suites = append(blk.Suites, SuiteSource{URL: a["url"], Suite: c.Labels[0], Components: strings.Fields(a["components"])})
			}
		case c.Type == "package" && len(c.Labels) == 1:
			a, err := stringAttrs(c.Body, map[string]*regexp.Regexp{"version": validVersion, "architecture": validArch, "source": validName}, "version", "architecture")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			name := c.Labels[0]
			if !validName.MatchString(name) {
				errs = append(errs, at(c.LabelRanges[0], "%q is not a Debian package name", name))
				continue
			}
			p := Package{Name: name, Version: a["version"], Architecture: a["architecture"], Source: a["source"]}
			if line, dup := seen[p.id()]; dup {
				errs = append(errs, at(c.TypeRange, "package %s (%s) is locked twice (also at line %d)", name, p.Architecture, line))
				continue
			}
			seen[p.id()] = c.TypeRange.Start.Line
			blk.Packages = append(blk.Packages, p)
		default:
			errs = append(errs, at(c.TypeRange, "unexpected block %s with %d labels: a build block holds suite \"SUITE\", input \"PATH\" and package \"NAME\" blocks", c.Type, len(c.Labels)))
		}
	}
	return blk, errors.Join(errs...)
}

// validMirror: an absolute http, https or file URL without white space
// or brackets (apt's option syntax).
func validMirror(s string) bool {
	if strings.ContainsAny(s, " \t[]\"") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https":
		return u.Host != ""
	case "file":
		return u.Path != ""
	}
	return false
}

// stringAttrs reads a body's attributes, each a literal string matching
// its pattern; required ones must be there.
func stringAttrs(body *hclsyntax.Body, allowed map[string]*regexp.Regexp, required ...string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for name, a := range body.Attributes {
		pattern, ok := allowed[name]
		if !ok {
			errs = append(errs, at(a.NameRange, "unexpected attribute %q", name))
			continue
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			errs = append(errs, at(a.Expr.Range(), "%s must be a string", name))
			continue
		}
		s := v.AsString()
		if !pattern.MatchString(s) {
			errs = append(errs, at(a.Expr.Range(), "%s %q is not valid here", name, s))
			continue
		}
		out[name] = s
	}
	for _, name := range required {
		if _, ok := body.Attributes[name]; !ok {
			errs = append(errs, at(body.SrcRange, "missing attribute %q", name))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return compareText(a.Error(), b.Error()) })
	return out, errors.Join(errs...)
}

func compareText(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

// at is an error at r: "file:line:col: message".
func at(r hcl.Range, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", r.Filename, r.Start.Line, r.Start.Column, fmt.Sprintf(format, args...))
}

func diagError(diags hcl.Diagnostics) error {
	var errs []error
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if d.Subject != nil {
			errs = append(errs, at(*d.Subject, "%s", msg))
		} else {
			errs = append(errs, errors.New(msg))
		}
	}
	return errors.Join(errs...)
}
