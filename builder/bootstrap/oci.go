package bootstrap

// bootstrap "oci": the root filesystem of an OCI image, from a registry
// or an OCI image layout directory. Resolving (ResolveOCI) asks the
// source what the block's image names now, picks the manifest of the
// recipe's architecture from an index, checks its config's architecture
// and the recipe's digest pin, and downloads nothing else; the bootstrap
// then fetches that very manifest again by its digest, and each layer,
// verified against its digest in the work directory before it is applied
// (builder/confined's Layers: whiteouts, opaque directories, hostile
// entries refused).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
)

type ociBackend struct{}

func (ociBackend) Name() string { return "oci" }

// Attributes: image (a registry reference, or with layout the ref.name
// of one of its images), digest (the manifest's pin), layout (a host
// directory). One of image and layout is required, which decoding checks.
func (ociBackend) Attributes() []string { return []string{"image", "digest", "layout"} }
func (ociBackend) Variants() []string   { return nil }

// Tools: none; the CA bundle a registry's HTTPS needs is doctor's own.
func (ociBackend) Tools() []Tool { return nil }

// HostInputs: none. The image is pinned by its manifest digest, which
// the resolved base puts among the block's fields, so the stage cache
// keys on it, a layout's as a registry's.
func (ociBackend) HostInputs(*Config) []string { return nil }

// ociResolved is what an oci block's image names now.
type ociResolved struct {
	source    string
	reference string
	// digest is the manifest's whose layers the image has; top is what
	// the reference named, an index holding it or the same manifest.
	digest, top v1.Hash
	manifest    *v1.Manifest
}

// openOCISource is the block's source: the layout, or the registry of
// its image reference. ref overrides the block's image for a registry.
func openOCISource(ctx context.Context, client *http.Client, b *Config, ref string, getenv func(string) string) (ociSource, name.Reference, error) {
	if b.Layout != "" {
		src, err := newLayoutSource(b.Layout, b.Image)
		return src, nil, err
	}
	if ref == "" {
		ref = b.Image
	}
	r, err := ParseImageReference(ref)
	if err != nil {
		return nil, nil, err
	}
	return newRegistrySource(ctx, r, client, getenv), r, nil
}

// resolveOCI resolves the block's image on src for arch, and checks its
// pin (the block's digest, or the reference's own): it may name the
// index or the manifest chosen from it. Nothing but manifests and the
// config is downloaded.
func resolveOCI(ctx context.Context, src ociSource, ref name.Reference, b *Config, arch image.Architecture) (*ociResolved, error) {
	top, err := src.top(ctx)
	if err != nil {
		return nil, err
	}
	r := &ociResolved{source: src.String(), reference: b.Image, top: top.Digest}
	if t, ok := ref.(name.Tag); ok {
		r.reference = t.TagStr()
	} else if ref != nil {
		r.reference = ""
	}
	raw, mt, err := verifiedManifest(ctx, src, top)
	if err != nil {
		return nil, err
	}
	want := ociPlatformOf(arch)
	desc := top
	for depth := 0; mt.IsIndex(); depth++ {
		if depth == 4 {
			return nil, fmt.Errorf("%s: indexes nest deeper than 4", src)
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: index %s: %w", src, desc.Digest, err)
		}
		if desc, err = want.choose(idx.Manifests, b.Digest, src, arch); err != nil {
			return nil, err
		}
		if raw, mt, err = verifiedManifest(ctx, src, desc); err != nil {
			return nil, err
		}
	}
	r.digest = desc.Digest
	if b.Digest != "" && b.Digest != r.digest.String() && b.Digest != r.top.String() {
		got := r.digest.String()
		if r.top != r.digest {
			got += " (in index " + r.top.String() + ")"
		}
		return nil, &PinError{What: "digest", Name: nameOr(r.reference, "the image"), Source: r.source, Want: b.Digest, Got: got}
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != r.digest.String() && d.DigestStr() != r.top.String() {
		return nil, fmt.Errorf("%s answered %s for %s", src, r.top, d)
	}
	if r.manifest, err = v1.ParseManifest(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %w", src, r.digest, err)
	}
	if _, err := checkOCIConfig(ctx, src, r, want, arch); err != nil {
		return nil, err
	}
	return r, nil
}

// name is how errors name the resolved image.
func (r *ociResolved) name() string {
	if r.reference != "" {
		return r.source + ":" + r.reference
	}
	return r.source
}

// maxManifest bounds a manifest, index or config read into memory.
const maxManifest = 8 << 20

// verifiedManifest reads the manifest or index d names and checks it
// against d's digest; its media type is its own field's, else what its
// fields make it (a manifest may leave mediaType out, the bootstrap
// fetches it by digest alone), else d's.
func verifiedManifest(ctx context.Context, src ociSource, d v1.Descriptor) ([]byte, types.MediaType, error) {
	raw, err := src.manifest(ctx, d.Digest)
	if err != nil {
		return nil, "", err
	}
	if len(raw) > maxManifest {
		return nil, "", fmt.Errorf("%s: manifest %s is larger than %d bytes", src, d.Digest, maxManifest)
	}
	if err := checkDigest(raw, d.Digest); err != nil {
		return nil, "", fmt.Errorf("%s: manifest %w", src, err)
	}
	mt := d.MediaType
	var fields struct {
		MediaType types.MediaType   `json:"mediaType"`
		Manifests json.RawMessage   `json:"manifests"`
		Config    json.RawMessage   `json:"config"`
		Layers    []json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(raw, &fields); err == nil {
		switch {
		case fields.MediaType != "":
			mt = fields.MediaType
		case fields.Manifests != nil && fields.Config == nil:
			mt = types.OCIImageIndex
		case fields.Config != nil && fields.Layers != nil && fields.Manifests == nil:
			mt = types.OCIManifestSchema1
		}
	}
	if !mt.IsImage() && !mt.IsIndex() {
		return nil, "", fmt.Errorf("%s: %s is a %q, neither an image manifest nor an index", src, d.Digest, mt)
	}
	return raw, mt, nil
}

// checkDigest says whether b's sha256 is h.
func checkDigest(b []byte, h v1.Hash) error {
	sum := sha256.Sum256(b)
	if h.Algorithm != "sha256" || hex.EncodeToString(sum[:]) != h.Hex {
		return fmt.Errorf("%s has sha256:%x", h, sum)
	}
	return nil
}

// checkOCIConfig reads the manifest's config, verified against its
// digest, and checks it is a Linux image of the recipe's architecture
// whose rootfs lists a diff_id for each of the manifest's layers.
func checkOCIConfig(ctx context.Context, src ociSource, r *ociResolved, want ociPlatform, arch image.Architecture) (*v1.ConfigFile, error) {
	cd := r.manifest.Config
	if cd.Size > maxManifest {
		return nil, fmt.Errorf("%s: config %s is larger than %d bytes", src, cd.Digest, maxManifest)
	}
	rc, err := src.blob(ctx, cd.Digest)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err = errors.Join(err, rc.Close()); err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", src, cd.Digest, err)
	}
	if err := checkDigest(raw, cd.Digest); err != nil {
		return nil, fmt.Errorf("%s: config %w", src, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", src, cd.Digest, err)
	}
	if !want.matches(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}) {
		return nil, fmt.Errorf("%s (%s) is an image for %s, but the recipe builds %s (%s)",
			r.name(), r.digest, platformString(cfg.OS, cfg.Architecture, cfg.Variant), arch.Distribution, want)
	}
	if len(cfg.RootFS.DiffIDs) != len(r.manifest.Layers) {
		return nil, fmt.Errorf("%s (%s): its config lists %d layers, its manifest %d", r.name(), r.digest, len(cfg.RootFS.DiffIDs), len(r.manifest.Layers))
	}
	return cfg, nil
}

// bootstrapOCI applies the layers of the manifest digest names, on src,
// into dir: each downloaded into the work directory and checked against
// its digest before it is applied.
func bootstrapOCI(ctx context.Context, env Env, src ociSource, b *Config, digest v1.Hash, dir string) error {
	r := &ociResolved{source: src.String(), reference: b.Image, digest: digest, top: digest}
	raw, mt, err := verifiedManifest(ctx, src, v1.Descriptor{Digest: digest})
	if err == nil && !mt.IsImage() {
		err = fmt.Errorf("%s: %s is an index, not the manifest resolved", src, digest)
	}
	if err != nil {
		return err
	}
	if r.manifest, err = v1.ParseManifest(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("%s: manifest %s: %w", src, digest, err)
	}
	cfg, err := checkOCIConfig(ctx, src, r, ociPlatformOf(env.Arch), env.Arch)
	if err != nil {
		return err
	}
	if err := checkLayers(r, env.MaxExtract); err != nil {
		return err
	}
	layers, err := confined.OpenLayers(dir, env.MaxExtract)
	if err != nil {
		return err
	}
	defer layers.Close()
	n := len(r.manifest.Layers)
	for i, l := range r.manifest.Layers {
		what := fmt.Sprintf("layer %d of %d (%s)", i+1, n, l.Digest)
		f, err := fetchLayer(ctx, src, l, env.WorkDir)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", r.name(), what, err)
		}
		err = layers.ApplyFile(ctx, f, cfg.RootFS.DiffIDs[i].String())
		if rerr := os.Remove(f.Name()); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			return fmt.Errorf("%s: applying %s: %w", r.name(), what, err)
		}
	}
	return nil
}

// checkLayers refuses, before any is downloaded, a layer of a media type
// builder does not apply, and layers whose sizes as the manifest states
// them pass max (limits { tarball_size }; <= 0: confined's default)
// together: a download is never larger than what it unpacks to, and
// nothing else bounds what a registry sends for a layer.
func checkLayers(r *ociResolved, max int64) error {
	if max <= 0 {
		max = confined.DefaultMaxExtract
	}
	var total int64
	for i, l := range r.manifest.Layers {
		if !slices.Contains(layerTypes, l.MediaType) {
			return fmt.Errorf("%s: layer %d of %d (%s) has media type %q, which is not a layer builder applies: nothing was downloaded",
				r.name(), i+1, len(r.manifest.Layers), l.Digest, l.MediaType)
		}
		if l.Size < 0 || l.Size > max-total {
			return fmt.Errorf("%s: its layers are larger than the limit of %s (limits { tarball_size }) from layer %d of %d (%s, %d bytes) on: nothing was downloaded",
				r.name(), confined.FormatSize(max), i+1, len(r.manifest.Layers), l.Digest, l.Size)
		}
		total += l.Size
	}
	return nil
}

// layerTypes are the layer media types applied: tar streams, plain or
// compressed. Foreign (Windows) layers are not.
var layerTypes = []types.MediaType{
	types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
	types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer,
	types.DockerLayer, types.DockerUncompressedLayer,
}

// LayerDigestError is a layer whose bytes are not its digest's.
type LayerDigestError struct {
	Digest, Got string
}

func (e *LayerDigestError) Error() string {
	return fmt.Sprintf("the downloaded layer has digest %s, not %s; nothing of it was applied", e.Got, e.Digest)
}

// fetchLayer downloads the layer l describes into a file in workDir,
// at most its stated size, and checks its digest; the file is returned
// open, at its start, so what is applied is what was checked.
func fetchLayer(ctx context.Context, src ociSource, l v1.Descriptor, workDir string) (_ *os.File, err error) {
	if l.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("digest algorithm %q: only sha256 is checked", l.Digest.Algorithm)
	}
	rc, err := src.blob(ctx, l.Digest)
	if err != nil {
		return nil, err
	}
	defer closeErr(rc, &err)
	f, err := os.CreateTemp(workDir, ".builder-layer-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, l.Size+1))
	if err != nil {
		// go-containerregistry's own check of a registry's blob fails
		// the read at its end, all of it hashed: say it as ours does.
		if strings.Contains(err.Error(), "error verifying sha256 checksum") {
			return nil, &LayerDigestError{Digest: l.Digest.String(), Got: "sha256:" + hex.EncodeToString(h.Sum(nil))}
		}
		return nil, fmt.Errorf("downloading: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.Digest.String() {
		return nil, &LayerDigestError{Digest: l.Digest.String(), Got: got}
	}
	if n != l.Size {
		return nil, fmt.Errorf("the downloaded layer has %d bytes, the manifest says %d", n, l.Size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return f, nil
}

func closeErr(c io.Closer, err *error) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// Resolve asks the block's registry or layout what its image names now
// (resolveOCI); under build --locked a tag must be pinned by a digest.
func (ociBackend) Resolve(ctx context.Context, env ResolveEnv, b *Config) (*Base, error) {
	if env.Locked {
		if err := checkLockable(b); err != nil {
			return nil, err
		}
	}
	src, ref, err := openOCISource(ctx, env.HTTP, b, "", lookupFunc(env.LookupEnv))
	if err != nil {
		return nil, err
	}
	r, err := resolveOCI(ctx, src, ref, b, env.Arch)
	if err != nil {
		return nil, err
	}
	if env.Log != nil {
		fmt.Fprintf(env.Log, "==> base image %s: %s (%d layers)\n", r.name(), r.digest, len(r.manifest.Layers))
	}
	return &Base{Kind: BaseOCI, Source: r.source, Reference: r.reference, Fingerprint: r.digest.String()}, nil
}

// Bootstrap applies the layers of the manifest the block resolved to,
// fetched again by its digest: a tag moved since is not followed.
func (ociBackend) Bootstrap(ctx context.Context, env Env, b *Config, dir string) error {
	if b.Base == nil {
		return errors.New("the oci image was not resolved before the build")
	}
	digest, err := ParseDigest(b.Base.Fingerprint)
	if err != nil {
		return err
	}
	src, _, err := openOCISource(ctx, env.HTTP, b, b.Base.Source+"@"+digest.String(), os.Getenv)
	if err != nil {
		return err
	}
	return bootstrapOCI(ctx, env, src, b, digest, dir)
}

// lookupFunc is os.Getenv's shape of a LookupEnv; nil reads nothing.
func lookupFunc(lookup func(string) (string, bool)) func(string) string {
	return func(k string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(k)
		return v
	}
}

// checkLockable refuses, for build --locked, a block whose base can move
// under it: an oci image named by a tag without a digest pin.
func checkLockable(c *Config) error {
	if c.Digest != "" || c.Layout == "" && isDigestRef(c.Image) {
		return nil
	}
	what := "the image " + strconv.Quote(c.Image)
	if c.Layout != "" {
		what = "the image of the OCI layout " + c.Layout
	}
	return fmt.Errorf("%s is not pinned: a tag can move, so a locked build needs digest = \"sha256:…\" in its oci block (a build without --locked records the digest it resolved in image.json's base)", what)
}

// isDigestRef says whether ref names its manifest by digest.
func isDigestRef(ref string) bool {
	r, err := ParseImageReference(ref)
	_, ok := r.(name.Digest)
	return err == nil && ok
}
