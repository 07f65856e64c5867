package recipe

import (
	"strings"

	"github.com/builder-images/builder/builder/step"
)

// The bootstrap, repository and packages blocks as step.Actions, until
// their config types move to builder/bootstrap and builder/packages.

// Kind is the block type.
func (*Bootstrap) Kind() string { return "bootstrap" }

// Fields are the backend and every attribute it was given.
func (b *Bootstrap) Fields() []step.Field {
	return step.Fields{}.
		With("backend", step.Text(b.Backend)).
		WithSet("suite", step.Text(b.Suite)).
		WithSet("variant", step.Text(b.Variant)).
		WithSet("mirror", step.Text(b.Mirror)).
		WithSet("keyring", step.Text(b.Keyring)).
		WithSet("components", step.Texts(b.Components)).
		WithSet("include", step.Texts(b.Include)).
		WithSet("exclude", step.Texts(b.Exclude)).
		WithSet("extra_args", step.Texts(b.ExtraArgs)).
		WithSet("keyring_fingerprints", step.Texts(b.KeyringFingerprints)).
		WithSet("source", step.Text(b.Source)).
		WithSet("sha256", step.Text(b.SHA256)).
		WithSet("binary", step.Text(b.Binary))
}

// HostInputs are the host files the backend reads: the busybox binary,
// a keyring file (a URL's contents are pinned by its fingerprints), a
// local tarball or directory.
func (b *Bootstrap) HostInputs() []string {
	var paths []string
	paths = append(paths, b.Binary)
	if !strings.HasPrefix(b.Keyring, "https://") {
		paths = append(paths, b.Keyring)
	}
	if (b.Backend == "tarball" || b.Backend == "directory") && !strings.HasPrefix(b.Source, "https://") {
		paths = append(paths, b.Source)
	}
	if b.Backend == "busybox" && b.Binary == "" {
		paths = append(paths, DefaultBusybox)
	}
	return nonEmpty(paths)
}

// Tools are the backend's program, or the busybox binary.
func (b *Bootstrap) Tools() []string {
	switch b.Backend {
	case "debootstrap", "mmdebstrap":
		return []string{b.Backend}
	case "busybox":
		return nonEmpty([]string{b.Binary})
	}
	return nil
}

// Summary: "suite=bookworm variant=minbase …".
func (b *Bootstrap) Summary(masked step.Fields) string {
	return keyValues(masked, "suite", "variant", "mirror", "source", "sha256", "binary", "include", "exclude")
}

// Kind is the block type.
func (*Repository) Kind() string { return "repository" }

// Fields are the repository's name, sources and key.
func (r *Repository) Fields() []step.Field {
	return step.Fields{}.
		With("name", step.Text(r.Name)).
		With("types", step.Texts(r.Types)).
		With("url", step.Text(r.URL)).
		With("suites", step.Texts(r.Suites)).
		With("components", step.Texts(r.Components)).
		WithSet("architectures", step.Texts(r.Architectures)).
		WithSet("key", step.Text(r.Key)).
		WithSet("key_file", step.Text(r.KeyFile))
}

// HostInputs is the key file, if any.
func (r *Repository) HostInputs() []string { return nonEmpty([]string{r.KeyFile}) }

// Tools: a repository is written as files.
func (*Repository) Tools() []string { return nil }

// Summary: the URL, suites and components.
func (r *Repository) Summary(masked step.Fields) string {
	var parts []string
	for _, name := range []string{"url", "suites", "components"} {
		if v := masked.Text(name); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

// Kind is the block type.
func (*Packages) Kind() string { return "packages" }

// Fields are the manager, its operations and the package lists.
func (p *Packages) Fields() []step.Field {
	return step.Fields{}.
		With("manager", step.Text(p.Manager)).
		With("update", step.Flag(p.Update)).
		With("upgrade", step.Flag(p.Upgrade)).
		WithSet("install", step.Texts(p.Install)).
		WithSet("remove", step.Texts(p.Remove)).
		With("cleanup", step.Flag(p.Cleanup))
}

// HostInputs: packages come from the image's repositories.
func (*Packages) HostInputs() []string { return nil }

// Tools: the package manager is the image's.
func (*Packages) Tools() []string { return nil }

// Summary: "apt: update, upgrade, install vim,git".
func (p *Packages) Summary(masked step.Fields) string {
	var parts []string
	for _, flag := range []string{"update", "upgrade", "cleanup"} {
		if masked.Get(flag) == step.Flag(true) {
			parts = append(parts, flag)
		}
	}
	for _, list := range []string{"install", "remove"} {
		if v := masked.Text(list); v != "" {
			parts = append(parts, list+" "+v)
		}
	}
	return masked.Text("manager") + ": " + strings.Join(parts, ", ")
}

// keyValues renders the named fields that have a value as "name=value".
func keyValues(fields step.Fields, names ...string) string {
	var parts []string
	for _, name := range names {
		if v := fields.Text(name); v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
