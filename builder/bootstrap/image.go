package bootstrap

import (
	"context"
	"errors"
	"fmt"
)

// imageBackend starts from an existing LXD/Incus image: exported by a
// daemon's REST API (daemon, remote: image_daemon.go) or downloaded from
// a simplestreams server (server: image_streams.go). Resolve finds the
// image the alias names now and checks the recipe's fingerprint pin;
// Bootstrap downloads exactly that image into the work directory,
// verifies it against its fingerprint and only then unpacks its rootfs.
type imageBackend struct{}

func (imageBackend) Name() string { return "image" }

func (imageBackend) Attributes() []string {
	return []string{"daemon", "remote", "server", "alias", "fingerprint", "variant",
		"templates", "properties", "drop_templates", "drop_properties"}
}

// Variants are free: a simplestreams server names its own ("default",
// "cloud").
func (imageBackend) Variants() []string { return nil }

// Tools: sqfs2tar reads a squashfs rootfs, whichever source the base
// comes from; which the base has is known only once it is resolved.
func (imageBackend) Tools() []Tool { return append([]Tool{sqfs2tarTool}, streamsTools()...) }

// HostInputs are none: the base is pinned by its fingerprint, which the
// block's Fields hold once resolved.
func (imageBackend) HostInputs(*Config) []string { return nil }

// imageSource is where a base image comes from.
type imageSource interface {
	// resolve finds the image cfg names and reads its metadata.
	resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error)
	// fetch downloads cfg.Base into env.WorkDir, verifies it and
	// unpacks its rootfs into dir.
	fetch(ctx context.Context, env Env, cfg *Config, dir string) error
}

func sourceOf(cfg *Config) imageSource {
	if cfg.Server != "" {
		return streamsSource{}
	}
	return daemonSource{}
}

func (imageBackend) Resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error) {
	if cfg.Alias == "" && cfg.Fingerprint == "" {
		return nil, errors.New("the image block names no alias nor fingerprint")
	}
	base, err := sourceOf(cfg).resolve(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	if env.Locked && cfg.Fingerprint == "" {
		// A locked build installs what the lock says on top of the base:
		// a base that can move under it is no lock.
		return nil, fmt.Errorf("build --locked needs the base image pinned: add fingerprint = %q to the image block (what %s on %s names now)",
			base.Fingerprint, cfg.Alias, base.Source)
	}
	if cfg.Fingerprint != "" && base.Fingerprint != cfg.Fingerprint {
		name := cfg.Alias
		if name == "" {
			name = "the image"
		}
		return nil, &PinError{What: "fingerprint", Name: name, Source: base.Source, Want: cfg.Fingerprint, Got: base.Fingerprint}
	}
	return base, nil
}

func (imageBackend) Bootstrap(ctx context.Context, env Env, cfg *Config, dir string) error {
	if cfg.Base == nil {
		// The resolve phase runs in builder's process before the stage:
		// a plan without it was not made by a building command.
		return fmt.Errorf("bootstrap \"image\": the base image %s was not resolved before the build", cfg.Alias)
	}
	return sourceOf(cfg).fetch(ctx, env, cfg, dir)
}
