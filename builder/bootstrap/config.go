package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/builder-images/builder/builder/step"
)

// Config is a bootstrap block as the recipe decodes it. Its JSON
// names are those of inspect --json and of the cache keys.
type Config struct {
	Backend string `json:"backend"`
	// debootstrap and mmdebstrap.
	Suite   string `json:"suite,omitempty"`
	Variant string `json:"variant,omitempty"`
	Mirror  string `json:"mirror,omitempty"` // empty: the bootstrap tool's own default
	// Snapshot is a time stamp (20250101T000000Z) of the snapshot
	// archive Mirror is: the tool bootstraps from MIRROR/SNAPSHOT/, whose
	// Release files are past their Valid-Until, which apt is told to
	// accept (mmdebstrap's and the image's).
	Snapshot   string   `json:"snapshot,omitempty"`
	Keyring    string   `json:"keyring,omitempty"`
	Components []string `json:"components,omitempty"`
	Include    []string `json:"include,omitempty"`
	Exclude    []string `json:"exclude,omitempty"`
	ExtraArgs  []string `json:"extra_args,omitempty"`

	// KeyringFingerprints pin the keys of Keyring (a host file, or an
	// https URL fetched at build time), which then gives the tool
	// those keys only; a URL requires them.
	KeyringFingerprints []string `json:"keyring_fingerprints,omitempty"`
	// tarball and directory: a path resolved against the recipe's
	// directory, or an https URL (tarball only, with SHA256).
	Source string `json:"source,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// busybox: the static binary to install.
	Binary string `json:"binary,omitempty"`
	// oci: Image is a registry reference (HOST/NAME:TAG or
	// HOST/NAME@sha256:…), or with Layout the ref.name of one of the
	// layout's images; Digest pins the manifest; Layout is an OCI image
	// layout directory, resolved against the recipe's directory.
	Image  string `json:"image,omitempty"`
	Digest string `json:"digest,omitempty"`
	Layout string `json:"layout,omitempty"`

	// image: the daemon ("lxd", "incus") or remote (an https URL or a
	// remote of the client configuration) to export the base from, or
	// the simplestreams server to download it from; the alias naming
	// it and the fingerprint pinning it (either or both).
	Daemon      string `json:"daemon,omitempty"`
	Remote      string `json:"remote,omitempty"`
	Server      string `json:"server,omitempty"`
	Alias       string `json:"alias,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// BaseTemplates and BaseProperties are "keep" (empty) or "drop":
	// what becomes of the base's metadata (see recipe.Plan.ApplyBase);
	// DropTemplates and DropProperties drop some of it by path or key.
	BaseTemplates  string   `json:"templates,omitempty"`
	BaseProperties string   `json:"properties,omitempty"`
	DropTemplates  []string `json:"drop_templates,omitempty"`
	DropProperties []string `json:"drop_properties,omitempty"`

	// Base is what the block's source resolved to (see Resolve), set
	// in builder's process before cache keys are computed; nil before
	// and for backends that start from nothing.
	Base *Base `json:"base,omitempty"`

	// Pins are "name=version" pins of build --locked (see
	// packages.AptPreferences), which mmdebstrap's apt follows. They
	// are not among Fields, so not in the cache key: a locked build
	// reuses the stages the lock was made from, and what a stage
	// installed is compared with the lock after it whichever way it
	// was made.
	Pins []string `json:"pins,omitempty"`
}

// DefaultBusybox is where Debian's busybox-static installs its binary.
const DefaultBusybox = "/bin/busybox"

// The block as a step.Action: inspect shows its fields and the cache key
// hashes them and its host inputs.

// Kind is the block type.
func (*Config) Kind() string { return "bootstrap" }

// Fields are the backend and every attribute it was given.
func (c *Config) Fields() step.Fields {
	return step.Fields{}.
		With("backend", step.Text(c.Backend)).
		WithSet("suite", step.Text(c.Suite)).
		WithSet("variant", step.Text(c.Variant)).
		WithSet("mirror", step.Text(c.Mirror)).
		WithSet("snapshot", step.Text(c.Snapshot)).
		WithSet("keyring", step.Text(c.Keyring)).
		WithSet("components", step.Texts(c.Components)).
		WithSet("include", step.Texts(c.Include)).
		WithSet("exclude", step.Texts(c.Exclude)).
		WithSet("extra_args", step.Texts(c.ExtraArgs)).
		WithSet("keyring_fingerprints", step.Texts(c.KeyringFingerprints)).
		WithSet("source", step.Text(c.Source)).
		WithSet("sha256", step.Text(c.SHA256)).
		WithSet("binary", step.Text(c.Binary)).
		WithSet("daemon", step.Text(c.Daemon)).
		WithSet("remote", step.Text(c.Remote)).
		WithSet("server", step.Text(c.Server)).
		WithSet("alias", step.Text(c.nameUnlessResolved(c.Alias))).
		WithSet("fingerprint", step.Text(c.nameUnlessResolved(c.Fingerprint))).
		WithSet("templates", step.Text(c.BaseTemplates)).
		WithSet("properties", step.Text(c.BaseProperties)).
		WithSet("drop_templates", step.Texts(c.DropTemplates)).
		WithSet("drop_properties", step.Texts(c.DropProperties)).
		WithSet("image", step.Text(c.nameUnlessResolved(c.Image))).
		WithSet("digest", step.Text(c.nameUnlessResolved(c.Digest))).
		WithSet("layout", step.Text(c.nameUnlessResolved(c.Layout))).
		WithSet("base", step.Text(c.baseFingerprint())).
		WithSet("base_metadata", step.Text(c.baseMetadataDigest()))
}

// nameUnlessResolved is v while the block's base is unresolved: once it
// is, the base's fingerprint (an OCI manifest digest) stands for the
// names, so the stage cache keys on what the alias or tag meant at build
// time, and an alias or tag moved to another image misses it.
func (c *Config) nameUnlessResolved(v string) string {
	if c.Base != nil {
		return ""
	}
	return v
}

// baseMetadataDigest is the sha256 of the base's templates and
// properties as resolving read them, empty when it has none: a cached
// bootstrap skips the download that checks them against the image's
// bytes, so the snapshot is keyed on the metadata that was checked, and
// a source that sends other metadata later misses it.
func (c *Config) baseMetadataDigest() string {
	if c.Base == nil || len(c.Base.Properties) == 0 && len(c.Base.Templates) == 0 {
		return ""
	}
	data, err := json.Marshal(Base{Properties: c.Base.Properties, Templates: c.Base.Templates})
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (c *Config) baseFingerprint() string {
	if c.Base == nil {
		return ""
	}
	return c.Base.Fingerprint
}

// HostInputs are the host files the backend reads (Backend.HostInputs).
func (c *Config) HostInputs() []string {
	backend, err := Lookup(c.Backend)
	if err != nil {
		return nil
	}
	return backend.HostInputs(c)
}

// Tools are the backend's tools this block uses (Backend.Tools), those
// it needs only for a foreign architecture included: doctor knows which
// architecture is foreign.
func (c *Config) Tools() []string {
	backend, err := Lookup(c.Backend)
	if err != nil {
		return nil
	}
	var names []string
	for _, t := range backend.Tools() {
		if t.NeededBy == nil || t.NeededBy(c) {
			names = append(names, t.Name)
		}
	}
	return names
}

// Summary: "suite=bookworm variant=minbase …".
func (c *Config) Summary(masked step.Fields) string {
	return keyValues(masked, "suite", "variant", "mirror", "snapshot", "source", "sha256", "binary", "include", "exclude",
		"daemon", "remote", "server", "alias", "fingerprint", "image", "digest", "layout", "base")
}

// Runtime is what a bootstrap step needs of the stage besides
// step.Runtime: the environment its backend runs in, on the host, since
// the image it creates has no sandbox yet.
type Runtime interface {
	step.Runtime
	// BootstrapEnv checks that the image's programs can run on this
	// host and returns the backend's environment.
	BootstrapEnv() (Env, error)
}

// Run creates the rootfs in the image directory with the block's backend.
func (c *Config) Run(ctx context.Context, rt step.Runtime) error {
	backend, err := Lookup(c.Backend)
	if err != nil {
		return err
	}
	host, ok := rt.(Runtime)
	if !ok {
		return errors.New("a bootstrap step runs only in the rootfs stage")
	}
	env, err := host.BootstrapEnv()
	if err != nil {
		return err
	}
	return backend.Bootstrap(ctx, env, c, rt.ImageDir())
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
