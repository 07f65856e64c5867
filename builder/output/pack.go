package output

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/sbom"
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
	// Reuse, for a split or VM image (see Reuses), is a rootfs file or
	// disk packed earlier from the same rootfs with the same settings: it
	// is copied instead of packing Rootfs, which may then be empty.
	Reuse *ReusedRootfs
}

// Packed is what Pack wrote: image.json, and the facts of the rootfs its
// SBOM was written from, which the cache keeps with a packed rootfs file
// so that a build reusing it writes the same SBOM.
type Packed struct {
	Image image.ImageJSON
	Facts sbom.Facts
}

// Pack is PackImage for callers that want only image.json.
func Pack(ctx context.Context, opts PackOptions) (image.ImageJSON, error) {
	p, err := PackImage(ctx, opts)
	return p.Image, err
}

// PackImage writes the image files of a finished rootfs, as the plan's
// output kind lays them out, then the SBOM (sbom.spdx.json), SHA256SUMS
// and image.json. They are written into a staging directory beside
// opts.Output that replaces it whole once image.json is written (see
// image.StageOutput): opts.Output holds the previous image or the new
// one, never a mix.
func PackImage(ctx context.Context, opts PackOptions) (_ Packed, err error) {
	kind, err := KindOf(opts.Plan.Output)
	if err != nil {
		return Packed{}, err
	}
	plan := opts.Plan
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
		return Packed{}, err
	}
	md, err := image.NewMetadata(spec, opts.Created)
	if err != nil {
		return Packed{}, err
	}
	mdYAML, err := md.YAML()
	if err != nil {
		return Packed{}, err
	}
	if opts.Reuse != nil && opts.Reuse.Facts == nil {
		// Kept by a builder that wrote no SBOM.
		return Packed{}, fmt.Errorf("%w: %s has no record of what the SBOM says", ErrReusedChanged, opts.Reuse.Path)
	}
	stage, err := image.StageOutput(opts.Output, kind.FileNames(plan), warn)
	if err != nil {
		return Packed{}, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, stage.Discard())
		}
	}()
	w := &Writer{
		Plan: plan, Dir: stage.Dir, Rootfs: opts.Rootfs, Metadata: metadataEntries(plan, mdYAML, opts),
		Tar: pack.TarOptions{SourceDateEpoch: opts.Epoch}, Reuse: opts.Reuse, Created: time.Unix(md.CreationDate, 0).UTC(),
		Epoch: opts.Epoch, Threads: opts.Threads, scratch: stage.ScratchDir, log: opts.Log, tty: opts.TTY,
	}
	start := time.Now()
	written, err := kind.Write(ctx, w)
	if err != nil {
		return Packed{}, err
	}
	files := written.Files
	logf("<== packed in %s\n", time.Since(start).Round(10*time.Millisecond))

	fingerprint, err := fingerprintOf(stage.Dir, files)
	if err != nil {
		return Packed{}, err
	}
	var pkgs []image.Package
	var facts sbom.Facts
	if opts.Reuse != nil {
		pkgs, facts = opts.Reuse.Packages, *opts.Reuse.Facts
	} else if pkgs, err = image.ReadDpkgStatus(opts.Rootfs); err != nil {
		return Packed{}, err
	} else if facts, err = sbom.ReadFacts(opts.Rootfs, pkgs); err != nil {
		return Packed{}, err
	}
	j := image.ImageJSON{
		Name: plan.Image.Name, Fingerprint: fingerprint, Type: kind.ImageType(), Architecture: plan.Image.Architecture.LXD,
		Properties: md.Properties, Aliases: plan.Image.Aliases, Created: time.Unix(md.CreationDate, 0).UTC(),
		Files: files, Disk: written.Disk, Packages: pkgs,
	}
	if b := plan.Bootstrap(); b != nil && b.Base != nil {
		j.Base, j.BaseFingerprint = b.Base.Record(), b.Base.Fingerprint
	}
	// Each output records the tests for its own instance type: an
	// output directory is tested alone.
	j.Tests = plan.ImageTests(j.InstanceType())
	if md.ExpiryDate != 0 {
		j.Expires = time.Unix(md.ExpiryDate, 0).UTC()
	}
	if j.SBOM, err = writeSBOM(stage.Dir, j, facts); err != nil {
		if opts.Reuse != nil {
			// Only the cache's facts can make a valid image's SBOM fail.
			err = fmt.Errorf("%w: %s: %w", ErrReusedChanged, opts.Reuse.Path, err)
		}
		return Packed{}, err
	}
	if err := image.WriteSHA256SUMS(stage.Dir, append(slices.Clone(files), j.SBOM.File())); err != nil {
		return Packed{}, err
	}
	// image.json last: its presence says the directory is complete.
	if err := image.WriteImageJSON(stage.Dir, j); err != nil {
		return Packed{}, err
	}
	if err := stage.Commit(warn); err != nil {
		return Packed{}, err
	}
	return Packed{Image: j, Facts: facts}, nil
}

// writeSBOM writes the image's SBOM into dir and returns image.json's
// record of it.
func writeSBOM(dir string, j image.ImageJSON, facts sbom.Facts) (*image.Document, error) {
	data, err := sbom.SPDX(j, facts)
	if err != nil {
		return nil, err
	}
	if err := image.WriteFileAtomic(filepath.Join(dir, image.SBOMName), data, 0o644); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	sum := sha256.Sum256(data)
	return &image.Document{Name: image.SBOMName, Format: sbom.Format, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}, nil
}

// CheckOutput checks, before anything is built, that output can take
// plan's image, and removes what killed builds left for it (see
// image.CheckOutput).
func CheckOutput(plan *recipe.Plan, output string, warn func(error)) error {
	kind, err := KindOf(plan.Output)
	if err != nil {
		return err
	}
	return image.CheckOutput(output, kind.FileNames(plan), warn)
}

// fingerprintOf is LXD's: a unified image's sha256, or the sha256 of the
// metadata file's bytes followed by the rootfs or disk file's, which no
// per-file hash gives, so the two files are read once more.
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
