package packages

import (
	"context"
	"strings"

	"github.com/builder-images/builder/builder/step"
)

// Config is one packages block as the recipe decodes it. Its JSON
// names are those of inspect --json and of the cache keys.
type Config struct {
	Manager string   `json:"manager"`
	Update  bool     `json:"update"`
	Upgrade bool     `json:"upgrade"`
	Install []string `json:"install,omitempty"`
	Remove  []string `json:"remove,omitempty"`
	Cleanup bool     `json:"cleanup"`
	// Pins are build --locked's "name=version" pins, which apt follows
	// while the block runs (AptPreferences). Not among Fields, so not in
	// the cache key: a locked build reuses the stages its lock was made
	// from, and the stage's packages are compared with the lock after
	// it whichever way they were installed.
	Pins []string `json:"pins,omitempty"`
}

// Repository is a repository block: an apt source, written as a deb822 .sources file.
type Repository struct {
	Name          string   `json:"name"`
	Types         []string `json:"types"`
	URL           string   `json:"url"`
	Suites        []string `json:"suites"`
	Components    []string `json:"components"`
	Architectures []string `json:"architectures,omitempty"`
	// Key is an armored OpenPGP key, KeyFile a path to one (armored or
	// binary); at most one is set.
	Key     string `json:"key,omitempty"`
	KeyFile string `json:"key_file,omitempty"`
}

// The blocks as step.Actions: inspect shows their fields and the cache
// key hashes them and their host inputs.

// Kind is the block type.
func (*Config) Kind() string { return "packages" }

// Fields are the manager, its operations and the package lists.
func (p *Config) Fields() step.Fields {
	return step.Fields{}.
		With("manager", step.Text(p.Manager)).
		With("update", step.Flag(p.Update)).
		With("upgrade", step.Flag(p.Upgrade)).
		WithSet("install", step.Texts(p.Install)).
		WithSet("remove", step.Texts(p.Remove)).
		With("cleanup", step.Flag(p.Cleanup))
}

// HostInputs: packages come from the image's repositories.
func (*Config) HostInputs() []string { return nil }

// Tools: the package manager is the image's.
func (*Config) Tools() []string { return nil }

// Summary: "apt: update, upgrade, install vim,git".
func (p *Config) Summary(masked step.Fields) string {
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

// Kind is the block type.
func (*Repository) Kind() string { return "repository" }

// Fields are the repository's name, sources and key.
func (r *Repository) Fields() step.Fields {
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
func (r *Repository) HostInputs() []string {
	if r.KeyFile == "" {
		return nil
	}
	return []string{r.KeyFile}
}

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

// Run writes the repository's key and sources file into the image.
func (r *Repository) Run(_ context.Context, rt step.Runtime) error {
	return WriteRepository(rt.ImageDir(), r)
}
