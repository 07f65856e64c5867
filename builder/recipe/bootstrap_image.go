package recipe

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/bootstrap"
)

// validRemoteName is a remote of the lxc/incus client configuration, as
// `lxc remote add` accepts it.
var validRemoteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// imageBootstrap decodes and checks the attributes of bootstrap "image":
// where the base comes from (a daemon, a remote daemon or a
// simplestreams server), which image (alias, fingerprint), and what
// becomes of its metadata.
func (s *stepDecoder) imageBootstrap(b *hclsyntax.Block, d *attrDecoder, bs *bootstrap.Config) {
	bs.Daemon = d.str("daemon", "")
	bs.Remote = d.str("remote", "")
	bs.Server = d.str("server", "")
	bs.Alias = d.str("alias", "")
	bs.Fingerprint = d.str("fingerprint", "")
	bs.BaseTemplates = d.str("templates", "")
	bs.BaseProperties = d.str("properties", "")
	bs.DropTemplates = d.strList("drop_templates", nil)
	bs.DropProperties = d.strList("drop_properties", nil)

	if bs.Daemon != "" && bs.Daemon != "lxd" && bs.Daemon != "incus" {
		d.errorf("daemon", "Invalid daemon", "The daemon must be \"lxd\" or \"incus\", not %q; leave it out for the first local daemon that answers, LXD first.", bs.Daemon)
	}
	if bs.Remote != "" {
		if strings.Contains(bs.Remote, "://") {
			if msg := checkURL(bs.Remote, "https"); msg != "" {
				d.errorf("remote", "Invalid remote", "The remote %s Give https://HOST[:PORT] or the name of a remote of the lxc or incus client configuration.", msg)
			} else if hasUserinfo(bs.Remote) {
				d.errorf("remote", "Invalid remote", "The remote URL carries credentials, which image.json's base, the SBOM and the build's log would show: an LXD or Incus remote trusts builder by its client certificate (the client configuration's, as for builder import --remote).")
			}
		} else if !validRemoteName.MatchString(bs.Remote) {
			d.errorf("remote", "Invalid remote", "The remote %q is neither an https URL nor the name of a remote of the lxc or incus client configuration.", bs.Remote)
		}
	}
	if bs.Server != "" {
		if msg := checkURL(bs.Server, "https"); msg != "" {
			d.errorf("server", "Invalid server", "The simplestreams server %s", msg)
		} else if hasUserinfo(bs.Server) {
			d.errorf("server", "Invalid server", "The simplestreams server's URL carries credentials, which image.json's base, the SBOM and the build's log would show: give the URL of a server that serves its tree without them.")
		}
		for _, other := range []string{"daemon", "remote"} {
			if d.has(other) {
				d.errorf(other, "Conflicting image sources", "%s names a daemon to export the image from, and server a simplestreams server to download it from: give one of them.", other)
			}
		}
	} else if d.has("variant") {
		d.errorf("variant", "Variant without a server", "variant chooses among a simplestreams server's images; a daemon's image is named by its alias or fingerprint alone.")
	}
	switch {
	case d.has("alias") && strings.TrimSpace(bs.Alias) == "":
		d.errorf("alias", "Empty alias", "The alias must name an image, such as \"debian/12\"; leave it out to name the image by its fingerprint alone.")
	case !d.has("alias") && !d.has("fingerprint") && !d.failed["alias"] && !d.failed["fingerprint"]:
		s.errorAt(b.DefRange(), "Missing base image",
			"bootstrap \"image\" needs alias = \"…\" (the image an alias names at build time), fingerprint = \"…\" (exactly that image), or both (the alias must then name that image).")
	}
	if bs.Fingerprint != "" {
		if msg := checkSHA256(bs.Fingerprint); msg != "" {
			d.errorf("fingerprint", "Invalid fingerprint", "The fingerprint must be the image's full fingerprint, 64 lowercase hexadecimal digits (lxc image info shows it), not %q.", bs.Fingerprint)
		}
	}
	for _, a := range []string{"templates", "properties"} {
		if v := d.str(a, ""); v != "" && v != "keep" && v != "drop" {
			d.errorf(a, "Invalid "+a, "%s is \"keep\" (the base image's %s stay, the recipe's win) or \"drop\" (none of them), not %q.", a, a, v)
		}
	}
	for i, p := range bs.DropTemplates {
		if !strings.HasPrefix(p, "/") {
			d.elementErrorf("drop_templates", i, "Invalid template path", "drop_templates lists the paths the base image's templates write in an instance, which are absolute, such as \"/etc/hostname\"; %q is not.", p)
		}
	}
	for i, k := range bs.DropProperties {
		if strings.TrimSpace(k) == "" {
			d.elementErrorf("drop_properties", i, "Empty property name", "drop_properties lists the keys of the base image's properties to leave out.")
		}
	}
}

// hasUserinfo says whether a URL names a user (and password) before its
// host.
func hasUserinfo(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.User != nil
}
