package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
)

// daemonSource exports a base image from an LXD or Incus daemon's image
// store through its REST API: the local socket (daemon = "lxd" or
// "incus", or the first that answers) or a remote over HTTPS (remote =
// a URL or a remote of the client configuration, whose certificates are
// used as builder import uses them).
type daemonSource struct{}

func (daemonSource) dial(ctx context.Context, cfg *Config, lookup func(string) (string, bool)) (*lxd.Client, error) {
	c, err := lxd.Dial(ctx, lxd.DialOptions{Daemon: cfg.Daemon, Remote: cfg.Remote, LookupEnv: lookup})
	var notDaemon *lxd.NotADaemonError
	if errors.As(err, &notDaemon) && notDaemon.Protocol == "simplestreams" {
		return nil, fmt.Errorf("remote %q is a simplestreams image server, not a daemon to export the image from: take its images with server = %q in the bootstrap block", notDaemon.Name, notDaemon.Addr)
	}
	return c, err
}

// where names the daemon in image.json's base: the remote, or which
// daemon answered.
func daemonWhere(cfg *Config, c *lxd.Client) string {
	if cfg.Remote != "" {
		return cfg.Remote
	}
	return string(c.Daemon)
}

// resolve reads the alias and the image record, checks the image is a
// container image of the recipe's architecture, and reads its metadata
// from the start of its export.
func (s daemonSource) resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error) {
	c, err := s.dial(ctx, cfg, env.LookupEnv)
	if err != nil {
		return nil, err
	}
	where := daemonWhere(cfg, c)
	fp := cfg.Fingerprint
	if cfg.Alias != "" {
		a, err := c.Alias(ctx, cfg.Alias)
		if lxd.IsNotFound(err) {
			return nil, fmt.Errorf("%s has no image alias %q", where, cfg.Alias)
		}
		if err != nil {
			return nil, fmt.Errorf("reading alias %s: %w", cfg.Alias, err)
		}
		fp = a.Target
	}
	if cfg.Fingerprint != "" && fp != cfg.Fingerprint {
		// Before the image is read, let alone exported.
		return nil, &PinError{What: "fingerprint", Name: cfg.Alias, Source: where, Want: cfg.Fingerprint, Got: fp}
	}
	img, err := c.Image(ctx, fp)
	if lxd.IsNotFound(err) {
		return nil, fmt.Errorf("%s has no image %s", where, fp)
	}
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", image.Short(fp), err)
	}
	if img.Type != "" && img.Type != image.InstanceContainer {
		return nil, fmt.Errorf("image %s on %s is a %s image; bootstrap \"image\" starts from container images", image.Short(fp), where, img.Type)
	}
	if img.Architecture != env.Arch.LXD {
		return nil, fmt.Errorf("image %s on %s is for %s, and the recipe builds for %s (image.architecture)", image.Short(fp), where, img.Architecture, env.Arch.LXD)
	}
	var md baseMetadata
	err = c.ExportImage(ctx, fp, func(part lxd.ExportPart) error {
		var err error
		if md, err = readBaseMetadata(part, "image "+image.Short(fp)); err != nil {
			return err
		}
		return lxd.ErrStopExport
	})
	if err != nil {
		return nil, err
	}
	if env.Log != nil {
		fmt.Fprintf(env.Log, "==> base image %s on %s: %s (%d templates, %d properties)\n", nameOr(cfg.Alias, image.Short(fp)), where, fp, len(md.Templates), len(md.Properties))
	}
	return &Base{Kind: BaseImage, Source: where, Reference: cfg.Alias, Fingerprint: fp, Properties: md.Properties, Templates: md.Templates}, nil
}

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

// fetch exports the resolved image into the work directory, checks its
// files hash to its fingerprint (metadata then rootfs, or the unified
// file) and hold the metadata the recipe was given, and only then
// unpacks the rootfs.
func (s daemonSource) fetch(ctx context.Context, env Env, cfg *Config, dir string) (err error) {
	c, err := s.dial(ctx, cfg, env.LookupEnv)
	if err != nil {
		return err
	}
	fp := cfg.Base.Fingerprint
	tmp, err := os.MkdirTemp(env.WorkDir, ".builder-base-*")
	if err != nil {
		return fmt.Errorf("exporting image %s: %w", image.Short(fp), err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	h := sha256.New()
	var metadata, rootfs string
	unified := false
	budget := env.MaxExtract
	err = c.ExportImage(ctx, fp, func(part lxd.ExportPart) error {
		name := part.Name
		if name != "metadata" && name != "rootfs" && name != "unified" {
			return fmt.Errorf("unexpected part %q", name)
		}
		path := filepath.Join(tmp, name)
		n, err := saveHashed(path, part, h, budget)
		if err != nil {
			return err
		}
		budget -= n
		if name == "metadata" {
			metadata = path
		} else {
			rootfs, unified = path, name == "unified"
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != fp {
		return fmt.Errorf("the export of image %s from %s hashes to %s, not to its fingerprint: nothing was unpacked", fp, daemonWhere(cfg, c), got)
	}
	if rootfs == "" {
		return fmt.Errorf("the export of image %s from %s has no rootfs", fp, daemonWhere(cfg, c))
	}
	// Resolving read the metadata from an export nothing checked: what
	// the recipe was given must be what the checked one holds.
	if metadata == "" {
		metadata = rootfs
	}
	if err := sameMetadata(metadata, cfg.Base); err != nil {
		return err
	}
	if err := extractBaseRootfs(ctx, rootfs, unified, dir, env.MaxExtract); err != nil {
		return fmt.Errorf("unpacking image %s: %w", image.Short(fp), err)
	}
	return nil
}

// saveHashed copies r into a new file at path and into h, refusing more
// than max bytes when max > 0 (limits { tarball_size }: a download is
// never larger than what it unpacks to).
func saveHashed(path string, r io.Reader, h hash.Hash, max int64) (n int64, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err = io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return n, fmt.Errorf("saving %s: %w", filepath.Base(path), err)
	}
	if max > 0 && n > max {
		return n, fmt.Errorf("the export is larger than the limit of %s (limits { tarball_size })", confined.FormatSize(max))
	}
	return n, nil
}
