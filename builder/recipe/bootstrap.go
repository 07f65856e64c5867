package recipe

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/bootstrap"
)

// validSnapshot is a snapshot archive's time stamp, as its directories
// are named.
var validSnapshot = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// validSuite is a Debian or Ubuntu suite or codename.
var validSuite = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]*$`)

func (s *stepDecoder) bootstrap(b *hclsyntax.Block) (*bootstrap.Config, *attrDecoder) {
	backend := b.Labels[0]
	kind, err := bootstrap.Lookup(backend)
	if err != nil {
		s.errorAt(b.LabelRanges[0], "Unknown bootstrap backend",
			fmt.Sprintf("There is no bootstrap backend %q%s. Backends: %s.", backend, suggest(backend, bootstrap.Names()), strings.Join(bootstrap.Names(), ", ")))
		return nil, nil
	}
	attrs, variants := kind.Attributes(), kind.Variants()
	d := decodeAttrs(b, s.ctx, s.diags, append([]string{"enabled"}, attrs...)...)
	bs := &bootstrap.Config{
		Backend:    backend,
		Suite:      d.str("suite", ""),
		Variant:    d.str("variant", ""),
		Mirror:     d.str("mirror", ""),
		Snapshot:   d.str("snapshot", ""),
		Keyring:    d.str("keyring", ""),
		Components: d.strList("components", nil),
		Include:    d.strList("include", nil),
		Exclude:    d.strList("exclude", nil),
		ExtraArgs:  d.strList("extra_args", nil),
		SHA256:     d.str("sha256", ""),
		Binary:     d.str("binary", ""),
	}
	refuseOptionLike(d, backend, bs)
	if backend == "oci" {
		s.ociBlock(b, d, bs)
	}
	switch {
	case backend == "busybox" && bs.Binary == "":
		bs.Binary = bootstrap.DefaultBusybox
	case slices.Contains(attrs, "suite") && !d.has("suite"):
		bs.Suite = s.plan.Image.Release
	}
	bs.KeyringFingerprints = d.strList("keyring_fingerprints", nil)
	bs.Keyring = s.bootstrapKeyring(d, bs)
	bs.Binary = s.hostPath(d, "binary", bs.Binary)
	if backend == "image" {
		s.imageBootstrap(b, d, bs)
	}
	if bs.Variant != "" && len(variants) > 0 && !slices.Contains(variants, bs.Variant) {
		d.errorf("variant", "Unknown bootstrap variant", "%s has no variant %q%s. Variants: %s.", backend, bs.Variant, suggest(bs.Variant, variants), strings.Join(variants, ", "))
	}
	if bs.Mirror != "" {
		if msg := checkURL(bs.Mirror, "http", "https", "file"); msg != "" {
			d.errorf("mirror", "Invalid mirror", "The mirror %s Leave it empty for the bootstrap tool's own default.", msg)
		}
	}
	if bs.Snapshot != "" {
		switch {
		case !validSnapshot.MatchString(bs.Snapshot):
			d.errorf("snapshot", "Invalid snapshot", "The snapshot %q is not a time stamp such as \"20250101T000000Z\" (UTC): the snapshot archive's directory under the mirror.", bs.Snapshot)
		case bs.Mirror == "":
			d.errorf("snapshot", "Snapshot without a mirror", "A snapshot is a dated directory of a snapshot archive: set mirror to that archive's URL (the part before the time stamp).")
		case strings.ContainsAny(bs.Mirror, "?#"):
			// MIRROR/SNAPSHOT/ is composed as text: a query or fragment
			// would swallow the time stamp.
			d.errorf("mirror", "Invalid mirror", "The mirror %q has a query or fragment, which the snapshot's directory cannot follow: give the snapshot archive's URL up to the time stamp.", bs.Mirror)
		}
	}
	switch {
	case d.has("suite") && strings.TrimSpace(bs.Suite) == "":
		d.errorf("suite", "Empty suite", "The suite must name a release, such as \"bookworm\"; leave it out to use the image's release.")
	case slices.Contains(attrs, "suite") && !validSuite.MatchString(bs.Suite):
		// debootstrap sources scripts/SUITE: a path here would run a
		// file of the recipe's choosing.
		detail := fmt.Sprintf("The suite %q is not a release name: letters, digits and . _ + ~ - only, such as \"bookworm\" or \"bookworm-backports\".", bs.Suite)
		if d.has("suite") {
			d.errorf("suite", "Invalid suite", "%s", detail)
		} else {
			s.errorAt(b.DefRange(), "Invalid suite", detail+" It comes from the image's release; set suite to the release's name.")
		}
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"include", bs.Include}, {"exclude", bs.Exclude}} {
		for i, p := range list.items {
			if msg := checkPackageName(p); msg != "" {
				d.elementErrorf(list.name, i, "Invalid package name", "%s", msg)
			}
		}
	}
	for i, a := range bs.ExtraArgs {
		if !strings.HasPrefix(a, "--") {
			d.elementErrorf("extra_args", i, "Invalid extra argument",
				"extra_args holds options only (starting with --), so they cannot replace the suite, target or mirror that builder passes; %q is not one.", a)
		}
	}
	if d.has("source") {
		bs.Source = s.bootstrapSource(d, backend)
	}
	if bs.SHA256 != "" {
		if msg := checkSHA256(bs.SHA256); msg != "" {
			d.errorf("sha256", "Invalid sha256", "The %s", msg)
		}
	}
	return bs, d
}

// bootstrapSource checks a tarball or directory source: a local path is
// resolved against the recipe's directory and must exist; a tarball may
// also come from an https URL, which then needs its sha256.
func (s *stepDecoder) bootstrapSource(d *attrDecoder, backend string) string {
	src := d.str("source", "")
	if src == "" {
		return ""
	}
	if strings.Contains(src, "://") {
		if backend != "tarball" {
			d.errorf("source", "Invalid source", "A directory source must be a local path, not %q.", src)
			return src
		}
		if msg := checkURL(src, "https"); msg != "" {
			d.errorf("source", "Invalid source", "The tarball source %s Downloads must use https.", msg)
		} else if !d.has("sha256") {
			d.errorf("source", "Missing sha256", "A tarball downloaded from %s needs sha256 = \"…\" so a changed or corrupted download fails the build.", src)
		}
		return src
	}
	path := s.resolvePath(src)
	if s.disabled {
		return path
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		d.errorf("source", "Missing source", "The %s source %s cannot be read: %s. Relative paths are resolved against the recipe's directory.", backend, path, fsErr(err))
	case backend == "directory" && !st.IsDir():
		d.errorf("source", "Invalid source", "The directory source %s is not a directory.", path)
	case backend == "tarball" && !st.Mode().IsRegular():
		d.errorf("source", "Invalid source", "The tarball source %s is not a regular file.", path)
	}
	return path
}

// checkURL returns a sentence when raw is not an absolute URL with one of
// the schemes.
func checkURL(raw string, schemes ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %s.", raw, err)
	}
	if !slices.Contains(schemes, u.Scheme) || (u.Host == "" && u.Scheme != "file") {
		return fmt.Sprintf("%q must be an absolute %s URL.", raw, orList(schemes))
	}
	return ""
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// hostPath resolves a path on the build host that the recipe names. A
// relative path belongs to the recipe's repository, so it is resolved
// against the recipe's directory and must exist; an absolute one names a
// file of the build host (a keyring, /bin/busybox), which `builder
// doctor` checks, so that validation gives the same answer everywhere.
func (s *stepDecoder) hostPath(d *attrDecoder, name, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	path := s.resolvePath(p)
	if !strings.ContainsRune(path, filepath.Separator) {
		// A recipe in the current directory: keep "./" so the name is
		// never looked up in $PATH nor read as an option.
		path = "." + string(filepath.Separator) + path
	}
	if _, err := os.Stat(path); err != nil && !s.disabled {
		d.errorf(name, "Missing file", "The %s %s cannot be read: %s. Relative paths are resolved against the recipe's directory.", name, path, fsErr(err))
	}
	return path
}

// refuseOptionLike reports every value that reaches the bootstrap
// tool's command line (or, for binary, becomes the command) and starts
// with "-": there it would be read as an option (suite =
// "--print-debs"), whatever the later checks make of it. The attribute
// is then marked failed, so nothing more is said about it.
func refuseOptionLike(d *attrDecoder, backend string, bs *bootstrap.Config) {
	reader := "the bootstrap tool"
	if backend == "debootstrap" || backend == "mmdebstrap" {
		reader = backend
	}
	for _, attr := range []struct {
		name   string
		values []string
		list   bool
	}{
		{"suite", []string{bs.Suite}, false}, {"variant", []string{bs.Variant}, false},
		{"mirror", []string{bs.Mirror}, false}, {"keyring", []string{bs.Keyring}, false},
		{"components", bs.Components, true}, {"include", bs.Include, true},
		{"exclude", bs.Exclude, true}, {"binary", []string{bs.Binary}, false},
	} {
		for i, v := range attr.values {
			if !strings.HasPrefix(v, "-") {
				continue
			}
			hint := ""
			if attr.name == "keyring" || attr.name == "binary" {
				hint = "; for a file of that name next to the recipe, write ./" + v
			}
			what, rng := "The "+attr.name, d.rangeOf(attr.name)
			if attr.list {
				what, rng = "An entry of "+attr.name, d.elementRange(attr.name, i)
			}
			d.errorAt(attr.name, rng, "Value read as an option",
				fmt.Sprintf("%s, %q, starts with \"-\": %s (or a command it runs) would take it for an option%s.", what, v, reader, hint))
			d.failed[attr.name] = true
			break
		}
	}
}
