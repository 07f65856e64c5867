package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// PackOptions say how to pack a rootfs; zero values take the recipe's
// output block.
type PackOptions struct {
	Plan   *recipe.Plan
	Rootfs string
	// Output is the output directory; it is created if missing.
	Output string
	// Created is the image's creation time (SOURCE_DATE_EPOCH or now).
	Created time.Time
	// Epoch, when set, clamps every file time (SOURCE_DATE_EPOCH).
	Epoch *time.Time
	// Threads bounds the compressors; 0 means every CPU.
	Threads int
	// Log receives progress lines; TTY says it is a terminal.
	Log io.Writer
	TTY bool
	// Warn hears of problems that do not stop the build: a leftover of
	// a killed build, or the previous image, that could not be removed.
	// When nil they go to Log.
	Warn func(error)
	// Reuse, for a split image, is a rootfs file packed earlier from the
	// same rootfs with the same settings: it is copied instead of
	// packing Rootfs, which may then be empty.
	Reuse *ReusedRootfs
}

// ErrReusedChanged is a ReusedRootfs whose bytes are no longer the ones
// kept: the caller drops the entry and packs the rootfs instead.
var ErrReusedChanged = errors.New("the cached rootfs file changed")

// ReusedRootfs is a packed rootfs file kept by the stage cache, which is
// untrusted: the file is copied under the name this build would give
// it, never the one the cache records, and kept only with the sha256
// recorded when it was stored.
type ReusedRootfs struct {
	// Path names the file in messages; Open opens it inside the cache.
	Path     string
	Open     func() (*os.File, error)
	Info     image.FileInfo
	Packages []image.Package
}

// Pack writes the image files of a finished rootfs: the metadata tarball
// and the rootfs (split), or one tarball (unified), then SHA256SUMS and
// image.json. They are written into a staging directory beside
// opts.Output that replaces it whole once image.json is written (see
// image.StageOutput): opts.Output holds the previous image or the new
// one, never a mix. It returns what image.json says.
func Pack(ctx context.Context, opts PackOptions) (_ image.ImageJSON, err error) {
	plan := opts.Plan
	out := plan.Output
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format, args...)
		}
	}
	warn := opts.Warn
	if warn == nil {
		warn = func(err error) { logf("warning: %v\n", err) }
	}
	spec := plan.ImageSpec()
	if err := spec.CheckTemplates(); err != nil {
		return image.ImageJSON{}, err
	}
	md, err := image.NewMetadata(spec, opts.Created)
	if err != nil {
		return image.ImageJSON{}, err
	}
	mdYAML, err := md.YAML()
	if err != nil {
		return image.ImageJSON{}, err
	}
	stage, err := image.StageOutput(opts.Output, ImageFileNames(plan), warn)
	if err != nil {
		return image.ImageJSON{}, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, stage.Discard())
		}
	}()
	dir := stage.Dir
	compressed := func(name string, write func(io.Writer) error) (pack.FileInfo, error) {
		prog := StartProgress(opts.Log, opts.TTY, name, "archived")
		defer prog.Stop()
		return pack.WriteCompressed(ctx, filepath.Join(dir, name), plan.Output.Compression, opts.Threads, func(w io.Writer) error {
			return write(prog.Wrap(w))
		})
	}
	entries := metadataEntries(plan, mdYAML, opts)
	tarOpts := pack.TarOptions{SourceDateEpoch: opts.Epoch}
	ext := ".tar" + out.Compression.Algorithm.Extension

	var files []image.FileInfo
	add := func(info pack.FileInfo, role image.Role) {
		files = append(files, image.FileInfo{Name: info.Name, Role: role, SHA256: info.SHA256, Size: info.Size})
		logf("    %s  %s  %s\n", info.Name, HumanSize(info.Size), info.SHA256)
	}
	start := time.Now()
	switch out.Type {
	case recipe.OutputUnified:
		name := plan.Image.Name + ext
		logf("==> packing %s (%s)\n", name, out.Compression)
		info, err := compressed(name, func(w io.Writer) error {
			unified := tarOpts
			unified.Prefix = "rootfs/"
			return writeImageTar(ctx, w, entries, opts.Rootfs, unified)
		})
		if err != nil {
			return image.ImageJSON{}, err
		}
		add(info, image.RoleUnified)
	default:
		name := "lxd" + ext
		logf("==> packing %s (%s)\n", name, out.Compression)
		info, err := compressed(name, func(w io.Writer) error {
			_, err := pack.WriteFiles(w, entries, tarOpts)
			return err
		})
		if err != nil {
			return image.ImageJSON{}, err
		}
		add(info, image.RoleMetadata)
		if opts.Reuse != nil {
			name = "rootfs" + ext
			if out.RootfsFormat == recipe.RootfsSquashfs {
				name = "rootfs.squashfs"
			}
			logf("==> reusing %s from the cache\n", name)
			info, err = copyReused(ctx, opts.Reuse, dir, name)
		} else if out.RootfsFormat == recipe.RootfsSquashfs {
			logf("==> packing rootfs.squashfs (mksquashfs, %s)\n", out.Compression.Algorithm.Name)
			info, err = pack.WriteSquashfs(ctx, opts.Rootfs, filepath.Join(dir, "rootfs.squashfs"),
				pack.SquashfsOptions{Compression: out.Compression, Epoch: opts.Epoch, Processors: opts.Threads})
		} else {
			name = "rootfs" + ext
			logf("==> packing %s (%s)\n", name, out.Compression)
			info, err = compressed(name, func(w io.Writer) error {
				_, err := pack.WriteTree(ctx, w, opts.Rootfs, tarOpts)
				return err
			})
		}
		if err != nil {
			return image.ImageJSON{}, err
		}
		add(info, image.RoleRootfs)
	}
	logf("<== packed in %s\n", time.Since(start).Round(10*time.Millisecond))

	fingerprint, err := fingerprintOf(dir, files)
	if err != nil {
		return image.ImageJSON{}, err
	}
	var pkgs []image.Package
	if opts.Reuse != nil {
		pkgs = opts.Reuse.Packages
	} else if pkgs, err = image.ReadDpkgStatus(opts.Rootfs); err != nil {
		return image.ImageJSON{}, err
	}
	typ := image.TypeSplit
	if out.Type == recipe.OutputUnified {
		typ = image.TypeUnified
	}
	j := image.ImageJSON{
		Name: plan.Image.Name, Fingerprint: fingerprint, Type: typ, Architecture: plan.Image.Architecture.LXD,
		Properties: md.Properties, Aliases: plan.Image.Aliases, Created: time.Unix(md.CreationDate, 0).UTC(),
		Files: files, Packages: pkgs,
	}
	if md.ExpiryDate != 0 {
		j.Expires = time.Unix(md.ExpiryDate, 0).UTC()
	}
	if err := image.WriteSHA256SUMS(dir, files); err != nil {
		return image.ImageJSON{}, err
	}
	// image.json last: its presence says the directory is complete.
	if err := image.WriteImageJSON(dir, j); err != nil {
		return image.ImageJSON{}, err
	}
	if err := stage.Commit(warn); err != nil {
		return image.ImageJSON{}, err
	}
	return j, nil
}

// ImageFileNames are the names of the image files Pack writes for plan,
// besides SHA256SUMS and image.json.
func ImageFileNames(plan *recipe.Plan) []string {
	ext := ".tar" + plan.Output.Compression.Algorithm.Extension
	switch {
	case plan.Output.Type == recipe.OutputUnified:
		return []string{plan.Image.Name + ext}
	case plan.Output.RootfsFormat == recipe.RootfsSquashfs:
		return []string{"lxd" + ext, "rootfs.squashfs"}
	}
	return []string{"lxd" + ext, "rootfs" + ext}
}

// CheckOutput checks, before anything is built, that output can take
// plan's image, and removes what killed builds left for it (see
// image.CheckOutput).
func CheckOutput(plan *recipe.Plan, output string, warn func(error)) error {
	return image.CheckOutput(output, ImageFileNames(plan), warn)
}

// writeImageTar writes a unified image's one archive: the metadata files,
// then the rootfs under its prefix.
func writeImageTar(ctx context.Context, w io.Writer, entries []pack.FileEntry, rootfs string, opts pack.TarOptions) error {
	tw, err := pack.NewTarWriter(w, opts)
	if err != nil {
		return err
	}
	if err := tw.WriteFiles(entries); err != nil {
		return err
	}
	if err := tw.WriteTree(ctx, rootfs); err != nil {
		return err
	}
	return tw.Close()
}

// fingerprintOf is LXD's: a unified image's sha256, or the sha256 of the
// metadata file's bytes followed by the rootfs file's, which no per-file
// hash gives, so the two files are read once more.
func fingerprintOf(dir string, files []image.FileInfo) (string, error) {
	if len(files) == 1 {
		return files[0].SHA256, nil
	}
	fp, _, err := image.HashFiles(dir, files...)
	if err != nil {
		return "", fmt.Errorf("computing the fingerprint: %w", err)
	}
	return fp, nil
}

// metadataEntries are the metadata tarball's files: metadata.yaml first
// (LXD stops reading once it has it), then templates/.
func metadataEntries(plan *recipe.Plan, mdYAML []byte, opts PackOptions) []pack.FileEntry {
	mtime := opts.Created
	entries := []pack.FileEntry{
		{Name: "metadata.yaml", Mode: 0o644, Data: mdYAML, ModTime: mtime},
	}
	templates := map[string][]byte{}
	for _, t := range plan.Templates {
		if t.Enabled {
			templates[t.Name] = []byte(t.Content)
		}
	}
	if len(templates) == 0 {
		return entries
	}
	entries = append(entries, pack.FileEntry{Name: "templates/", Mode: fs.ModeDir | 0o755, ModTime: mtime})
	names := make([]string, 0, len(templates))
	for n := range templates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		entries = append(entries, pack.FileEntry{Name: "templates/" + n, Mode: 0o644, Data: templates[n], ModTime: mtime})
	}
	return entries
}

// HumanSize spells a byte count in binary units: 1.5 MiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// copyReused copies a cached rootfs file into the output directory as
// name, checking its sha256 on the way: a cache is only a hint. Any
// problem with the kept file is ErrReusedChanged, for the caller to drop
// it and pack the rootfs instead.
func copyReused(ctx context.Context, r *ReusedRootfs, outDir, name string) (pack.FileInfo, error) {
	if r.Info.Name != name {
		return pack.FileInfo{}, fmt.Errorf("%w: %s is recorded as %q, not %q", ErrReusedChanged, r.Path, r.Info.Name, name)
	}
	src, err := r.Open()
	if err != nil {
		return pack.FileInfo{}, fmt.Errorf("%w: %w", ErrReusedChanged, err)
	}
	defer src.Close()
	none, _ := pack.ParseCompression("none")
	info, err := pack.WriteCompressed(ctx, filepath.Join(outDir, name), none, 1, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
	if err != nil {
		return info, fmt.Errorf("reusing %s: %w", r.Path, err)
	}
	if info.SHA256 != r.Info.SHA256 || info.Size != r.Info.Size {
		_ = os.Remove(filepath.Join(outDir, name))
		return info, fmt.Errorf("%w: %s has sha256 %s, not the recorded %s", ErrReusedChanged, r.Path, info.SHA256, r.Info.SHA256)
	}
	return info, nil
}
