package bootstrap

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"

	"github.com/builder-images/builder/builder/image"
)

// A build that starts from an existing image (bootstrap "image", "oci")
// names it by something that can move: an alias, a tag. The build first
// resolves that name (Resolve, in builder's own process, before cache
// keys are computed or a lock is read) into a Base, which then travels
// in the bootstrap block to the rootfs stage: the stage cache keys on the
// base's fingerprint or digest, the bootstrap downloads exactly that
// image, and image.json records it.

// Base kinds.
const (
	BaseImage = "image" // an LXD/Incus image: from a daemon or a simplestreams server
	BaseOCI   = "oci"   // an OCI image: from a registry or an OCI layout directory
)

// Base is the existing image a build starts from, as image.json records
// it ("base"), with the metadata it offers the recipe.
type Base struct {
	// Kind is BaseImage or BaseOCI.
	Kind string `json:"kind"`
	// Source is where it comes from: a simplestreams server's URL, the
	// daemon ("lxd", "incus") or remote (a URL or client remote name),
	// a registry repository or an OCI layout directory.
	Source string `json:"source"`
	// Reference is the alias or tag the recipe asked for, if any.
	Reference string `json:"reference,omitempty"`
	// Fingerprint is the LXD image fingerprint (64 hex digits) or the
	// OCI manifest digest ("sha256:…").
	Fingerprint string `json:"fingerprint"`
	// Properties and Templates are the base's metadata (image kind
	// only), which the recipe keeps, overrides or drops
	// (recipe.Plan.ApplyBase); they are not in image.json.
	Properties map[string]string `json:"properties,omitempty"`
	Templates  []BaseTemplate    `json:"templates,omitempty"`
}

// BaseTemplate is one template of a base image's metadata.yaml, with
// the file it names under templates/.
type BaseTemplate struct {
	// Path is where an instance gets the rendered file.
	Path string `json:"path"`
	// Name is the file under templates/; Content its text.
	Name       string            `json:"name"`
	Content    string            `json:"content"`
	When       []string          `json:"when,omitempty"`
	CreateOnly bool              `json:"create_only,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	// UID, GID and Mode are Incus's additions.
	UID  string `json:"uid,omitempty"`
	GID  string `json:"gid,omitempty"`
	Mode string `json:"mode,omitempty"`
}

// Record is what image.json says of the base: where it came from and
// what it was, not its metadata.
func (b *Base) Record() *image.Base {
	if b == nil {
		return nil
	}
	return &image.Base{Kind: b.Kind, Source: b.Source, Reference: b.Reference, Fingerprint: b.Fingerprint}
}

// Resolver is a Backend whose source is asked, before cache keys are
// computed, what the block's name means now. It checks the recipe's pin
// (fingerprint, digest) and fails before anything is downloaded or
// unpacked when the pin differs.
type Resolver interface {
	Resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error)
}

// ResolveEnv is what resolving a base may use: builder's own process,
// not the isolated stage.
type ResolveEnv struct {
	// Arch is the image's architecture, which the base's must be.
	Arch image.Architecture
	// HTTP fetches from servers and registries; nil means
	// http.DefaultClient.
	HTTP *http.Client
	// LookupEnv reads builder's environment (daemon sockets, client
	// configuration, HOME, credentials), as os.LookupEnv does.
	LookupEnv func(string) (string, bool)
	// Locked is build --locked: a name that can move must be pinned.
	Locked bool
	// Log hears what resolving found; nil discards it.
	Log io.Writer
}

// Resolve asks cfg's backend what its block names now and records the
// answer in cfg.Base. A backend that needs no resolving leaves cfg as it
// is and returns nil.
func Resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error) {
	backend, err := Lookup(cfg.Backend)
	if err != nil {
		return nil, err
	}
	r, ok := backend.(Resolver)
	if !ok {
		return nil, nil
	}
	base, err := r.Resolve(ctx, env, cfg)
	if err != nil {
		return nil, fmt.Errorf("resolving the base image of bootstrap %q: %w", cfg.Backend, err)
	}
	if err := base.check(); err != nil {
		return nil, fmt.Errorf("resolving the base image of bootstrap %q: %w", cfg.Backend, err)
	}
	cfg.Base = base
	return base, nil
}

var (
	lxdFingerprint = regexp.MustCompile(`^[0-9a-f]{64}$`)
	ociDigest      = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// check refuses a base a resolver got wrong: the cache keys on its
// fingerprint, so it must be one.
func (b *Base) check() error {
	switch {
	case b == nil:
		return fmt.Errorf("the backend resolved nothing")
	case b.Kind == BaseImage && !lxdFingerprint.MatchString(b.Fingerprint):
		return fmt.Errorf("image fingerprint %q is not 64 lowercase hex digits", b.Fingerprint)
	case b.Kind == BaseOCI && !ociDigest.MatchString(b.Fingerprint):
		return fmt.Errorf("manifest digest %q is not sha256:64 lowercase hex digits", b.Fingerprint)
	case b.Kind != BaseImage && b.Kind != BaseOCI:
		return fmt.Errorf("unknown base kind %q", b.Kind)
	}
	return nil
}

// PinError is a base whose name resolves to something other than the
// recipe's pin.
type PinError struct {
	// What names the pin ("fingerprint", "digest"); Name is what the
	// recipe asked for (an alias, a tag) and Source where.
	What, Name, Source string
	Want, Got          string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("%s on %s is %s %s, but the recipe pins %s: nothing was downloaded; update the pin if the new image is the one you want",
		e.Name, e.Source, e.What, e.Got, e.Want)
}
