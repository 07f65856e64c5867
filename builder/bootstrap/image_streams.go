package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/streams"
)

// streamsSource is bootstrap "image"'s simplestreams source (server =
// "https://…"): builder serve's trees, signed or not, and LXD's and
// Incus's image servers (streams_client.go reads them). Resolve finds
// the image the alias names for the recipe's architecture and variant
// (the block's variant; unset, the variant of the one product the alias
// names, "default" when several carry it) and reads its metadata;
// the bootstrap finds the same image again by its fingerprint, downloads
// it, checks it and unpacks its root filesystem.
type streamsSource struct{}

// maxBaseMetadataFile bounds a split image's metadata tarball, which
// resolving reads into memory: a few kilobytes as LXD's servers and
// builder write them.
const maxBaseMetadataFile = 64 << 20

func (streamsSource) resolve(ctx context.Context, env ResolveEnv, cfg *Config) (*Base, error) {
	c, err := newStreamsClient(env.HTTP, cfg.Server)
	if err != nil {
		return nil, err
	}
	q := streams.Query{Alias: cfg.Alias, Fingerprint: cfg.Fingerprint, Arch: env.Arch}
	if q.Alias != "" {
		// Unset, the variant is the one product's the alias names
		// ("debian/12/cloud" names a cloud image, as for lxc launch),
		// "default" among several.
		q.Fingerprint, q.Variant = "", cfg.Variant
	}
	f, err := c.find(ctx, q)
	if err != nil {
		return nil, err
	}
	if !isFingerprint(f.Fingerprint) {
		// Printed, recorded in image.json, keying the cache: before
		// anything of it is.
		return nil, fmt.Errorf("%s states the fingerprint %q for %s version %s, which is not 64 hexadecimal digits", c.server, f.Fingerprint, f.Product, f.Version)
	}
	if cfg.Fingerprint != "" && f.Fingerprint != cfg.Fingerprint {
		// Before anything of the image is read.
		return nil, &PinError{What: "fingerprint", Name: cfg.Alias, Source: cfg.Server, Want: cfg.Fingerprint, Got: f.Fingerprint}
	}
	md, err := c.metadata(ctx, f)
	if err != nil {
		return nil, err
	}
	if env.Log != nil {
		fmt.Fprintf(env.Log, "==> base image %s on %s: %s version %s, %s (%d templates, %d properties)\n",
			nameOr(cfg.Alias, image.Short(f.Fingerprint)), cfg.Server, f.Product, f.Version, f.Fingerprint, len(md.Templates), len(md.Properties))
	}
	return &Base{Kind: BaseImage, Source: cfg.Server, Reference: cfg.Alias, Fingerprint: f.Fingerprint,
		Properties: md.Properties, Templates: md.Templates}, nil
}

// metadata reads the image's metadata.yaml and templates: a split
// image's metadata file whole (checked against its sha256), a unified
// image's tarball up to its rootfs/ entries only. The bootstrap reads
// them again from the checked files (sameMetadata).
func (c *streamsClient) metadata(ctx context.Context, f streams.Found) (baseMetadata, error) {
	if f.Rootfs == nil {
		u, err := c.fileURL(f.Meta.Path)
		if err != nil {
			return baseMetadata{}, err
		}
		body, err := c.open(ctx, u)
		if err != nil {
			return baseMetadata{}, err
		}
		// The metadata comes first; a server sending more than it
		// stated, or rootfs/ entries without end, is not read on.
		limit, by := f.Meta.Size, "the size "+c.by()+" states"
		if limit <= 0 {
			limit, by = maxBaseMetadataFile, "what is read for its metadata"
		}
		md, err := readBaseMetadata(&boundedBody{r: body, limit: limit, name: u, by: by}, u)
		return md, errors.Join(err, body.Close())
	}
	data, err := c.get(ctx, f.Meta.Path, maxBaseMetadataFile)
	if err != nil {
		return baseMetadata{}, err
	}
	u, _ := c.fileURL(f.Meta.Path)
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.Meta.SHA256 {
		return baseMetadata{}, &ChecksumError{Source: u, Want: f.Meta.SHA256, Got: got, By: c.by()}
	}
	return readBaseMetadata(bytes.NewReader(data), u)
}

// isFingerprint says whether s is an image's full fingerprint: 64
// lowercase hexadecimal digits, as the recipe's pin must be.
func isFingerprint(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// boundedBody reads r up to limit bytes, and fails past them, naming
// the file and by whom the limit is set.
type boundedBody struct {
	r        io.Reader
	n, limit int64
	name, by string
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if room := b.limit + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	if b.n += int64(n); b.n > b.limit {
		return 0, fmt.Errorf("%s is larger than %s, %s", b.name, confined.FormatSize(b.limit), b.by)
	}
	return n, err
}

// fetch downloads the resolved image (found again by its fingerprint,
// wherever the alias points by now) into the work directory, checks
// every file and the fingerprint, checks the metadata is what the
// recipe was given, and only then unpacks the root filesystem.
func (streamsSource) fetch(ctx context.Context, env Env, cfg *Config, dir string) (err error) {
	c, err := newStreamsClient(env.HTTP, cfg.Server)
	if err != nil {
		return err
	}
	f, err := c.find(ctx, streams.Query{Fingerprint: cfg.Base.Fingerprint, Arch: env.Arch})
	if err != nil {
		return err
	}
	if f.Rootfs != nil && f.Rootfs.Ftype == streams.FtypeSquashfs {
		// Before a download that could take long: the build would
		// fail after it.
		if _, err := exec.LookPath(sqfs2tarTool.Name); err != nil {
			return fmt.Errorf("image %s has a squashfs root filesystem, which %s reads: it is not installed (apt-get install %s); nothing was downloaded: %w",
				image.Short(f.Fingerprint), sqfs2tarTool.Name, sqfs2tarTool.Package, err)
		}
	}
	files, err := c.download(ctx, f, env.WorkDir, env.MaxExtract)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, files.remove()) }()
	if err := sameMetadata(files.Metadata, cfg.Base); err != nil {
		return err
	}
	path, unified := files.rootfs()
	return extractBaseRootfs(ctx, path, unified, dir, env.MaxExtract)
}

// sameMetadata checks that the metadata a checked file holds is what
// resolving read, unchecked, and gave the recipe: a server that sent
// other metadata then fails the build rather than lend its templates
// to an image whose base_fingerprint names another.
func sameMetadata(path string, base *Base) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the base image's metadata: %w", err)
	}
	defer file.Close()
	md, err := readBaseMetadata(file, path)
	if err != nil {
		return err
	}
	got, err := json.Marshal(Base{Properties: md.Properties, Templates: md.Templates})
	if err != nil {
		return err
	}
	// As the plan carried it to this process: empty is left out.
	want, err := json.Marshal(Base{Properties: base.Properties, Templates: base.Templates})
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("the metadata of image %s differs from what the server sent when the build resolved it: nothing was unpacked", base.Fingerprint)
	}
	return nil
}

// streamsTools are the host tools the simplestreams source runs besides
// the backend's sqfs2tar: none, it speaks HTTPS itself.
func streamsTools() []Tool { return nil }
