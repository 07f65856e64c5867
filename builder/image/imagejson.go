package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of an output directory besides the image's own files.
const (
	ImageJSONName  = "image.json"
	SHA256SUMSName = "SHA256SUMS"
	// SBOMName is the software bill of materials (SPDX 2.3 JSON) that
	// image.json's sbom field records.
	SBOMName = "sbom.spdx.json"
)

// ImageJSON is image.json: what delivery (import, upload, publish) reads
// about an output directory instead of looking into the files again.
type ImageJSON struct {
	// Name is the recipe's image name: the default alias on import.
	Name string `json:"name,omitempty"`
	// Fingerprint is LXD's: see CombinedHasher.
	Fingerprint string `json:"fingerprint"`
	// Type is TypeSplit or TypeUnified for a container image, TypeVM
	// for a virtual machine's (split or unified: see the files' roles).
	Type string `json:"type"`
	// Architecture is LXD's canonical name.
	Architecture string            `json:"architecture"`
	Properties   map[string]string `json:"properties"`
	// Aliases are the recipe's own aliases.
	Aliases []string `json:"aliases,omitempty"`
	// Created and Expires are metadata.yaml's creation_date and
	// expiry_date; a zero Expires means the image does not expire.
	Created time.Time `json:"created,omitzero"`
	Expires time.Time `json:"expires,omitzero"`
	// Files are in fingerprint order: metadata then rootfs or disk, or
	// unified.
	Files []FileInfo `json:"files"`
	// Disk describes a VM image's disk; nil for a container image.
	Disk *Disk `json:"disk,omitempty"`
	// Packages are the image's installed packages, sorted.
	Packages []Package `json:"packages"`
	// SBOM is the software bill of materials beside the image files;
	// nil in an output directory an older builder wrote. It is not
	// one of Files, whose roles make the image and its fingerprint.
	SBOM *Document `json:"sbom,omitempty"`
	// Tests are the recipe's test blocks that run on this image's
	// instance type, in recipe order; `builder test` runs them.
	Tests []Test `json:"tests,omitempty"`
	// Base is the existing image the build started from (bootstrap
	// "image" or "oci"); nil for an image bootstrapped from scratch.
	// BaseFingerprint is Base.Fingerprint, where users query it. Both
	// are outside Files: they describe the image, and an image without
	// a base keeps the fingerprint and image.json it had.
	Base            *Base  `json:"base,omitempty"`
	BaseFingerprint string `json:"base_fingerprint,omitempty"`
}

// Base is image.json's record of the image a build started from.
type Base struct {
	// Kind is "image" (LXD/Incus) or "oci".
	Kind string `json:"kind"`
	// Source is the daemon, remote, server, registry repository or
	// layout directory it came from.
	Source string `json:"source"`
	// Reference is the alias or tag the recipe named, if any.
	Reference string `json:"reference,omitempty"`
	// Fingerprint is the LXD fingerprint or the OCI manifest digest.
	Fingerprint string `json:"fingerprint"`
}

// FileInfo is one file of an output directory.
type FileInfo struct {
	// Name is the bare file name in the output directory.
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Document is a file of an output directory that describes the image
// rather than being part of it: the SBOM.
type Document struct {
	// Name is the bare file name in the output directory.
	Name string `json:"name"`
	// Format names the document's format and version: "spdx-2.3+json".
	Format string `json:"format"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// File is d as SHA256SUMS lists it.
func (d Document) File() FileInfo {
	return FileInfo{Name: d.Name, SHA256: d.SHA256, Size: d.Size}
}

// Package is one installed package of the image.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	// Source is the source package it was built from, when its name
	// is not Name; SourceVersion the source's version, when it is not
	// Version (a binNMU, or a binary versioned on its own).
	Source        string `json:"source,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
}

// SourceName is the source package's name: Source, or Name when the
// two are the same.
func (p Package) SourceName() string {
	if p.Source != "" {
		return p.Source
	}
	return p.Name
}

// SourceVer is the source package's version: SourceVersion, or Version
// when the two are the same.
func (p Package) SourceVer() string {
	if p.SourceVersion != "" {
		return p.SourceVersion
	}
	return p.Version
}

// Check reports what makes j inconsistent: a fingerprint or sha256 that is
// not lowercase hex, a type that does not match the files' roles, a
// unified image whose fingerprint is not its file's sha256, a
// non-canonical architecture, a file name that is not bare, a VM image
// without its disk record or a container image with one, a test that
// checkTests refuses.
func (j ImageJSON) Check() error {
	var errs []error
	if !isSHA256(j.Fingerprint) {
		errs = append(errs, fmt.Errorf("fingerprint %q is not 64 lowercase hex digits", j.Fingerprint))
	}
	roles := make([]Role, len(j.Files))
	for i, f := range j.Files {
		roles[i] = f.Role
		if err := checkBareName(f.Name); err != nil {
			errs = append(errs, fmt.Errorf("file %d: %w", i, err))
		}
		if !isSHA256(f.SHA256) {
			errs = append(errs, fmt.Errorf("file %s: sha256 %q is not 64 lowercase hex digits", f.Name, f.SHA256))
		}
		if f.Size < 0 {
			errs = append(errs, fmt.Errorf("file %s: negative size", f.Name))
		}
	}
	form, err := imageForm(roles)
	switch {
	case err != nil:
		errs = append(errs, err)
	case form != j.Type && !(form == TypeUnified && j.Type == TypeVM):
		errs = append(errs, fmt.Errorf("type %q does not match the files, which make a %s image", j.Type, form))
	case form == TypeUnified && j.Files[0].SHA256 != j.Fingerprint:
		errs = append(errs, fmt.Errorf("a unified image's fingerprint is its file's sha256, %s, not %s", j.Files[0].SHA256, j.Fingerprint))
	}
	switch {
	case j.Type == TypeVM && j.Disk == nil:
		errs = append(errs, errors.New("a virtual-machine image has no disk record"))
	case j.Type == TypeVM:
		if err := j.Disk.Check(); err != nil {
			errs = append(errs, err)
		}
	case j.Disk != nil:
		errs = append(errs, fmt.Errorf("a %s image has a disk record, which only virtual-machine images have", j.Type))
	}
	if arch, err := LookupArchitecture(j.Architecture); err != nil || arch.LXD != j.Architecture {
		errs = append(errs, fmt.Errorf("architecture %q is not an LXD architecture name", j.Architecture))
	}
	for _, a := range j.Aliases {
		if err := CheckAlias(a); err != nil {
			errs = append(errs, fmt.Errorf("alias %q %w", a, err))
		}
	}
	if !j.Expires.IsZero() && !j.Expires.After(j.Created) {
		errs = append(errs, fmt.Errorf("expiry %s is not after creation %s", j.Expires.UTC().Format(time.RFC3339), j.Created.UTC().Format(time.RFC3339)))
	}
	for i, p := range j.Packages {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("package %d has no name", i))
		}
	}
	if d := j.SBOM; d != nil {
		if err := checkBareName(d.Name); err != nil {
			errs = append(errs, fmt.Errorf("sbom: %w", err))
		}
		if slices.ContainsFunc(j.Files, func(f FileInfo) bool { return f.Name == d.Name }) || d.Name == ImageJSONName || d.Name == SHA256SUMSName {
			errs = append(errs, fmt.Errorf("sbom: %s is also one of the image's files or descriptions", d.Name))
		}
		if !isSHA256(d.SHA256) {
			errs = append(errs, fmt.Errorf("sbom %s: sha256 %q is not 64 lowercase hex digits", d.Name, d.SHA256))
		}
		if d.Size < 0 {
			errs = append(errs, fmt.Errorf("sbom %s: negative size", d.Name))
		}
	}
	if err := checkTests(j.Tests); err != nil {
		errs = append(errs, err)
	}
	if err := j.checkBase(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// InstanceType is the kind of instance the image is for, as LXD's API
// names it: InstanceVM or InstanceContainer.
func (j ImageJSON) InstanceType() string {
	if j.Type == TypeVM {
		return InstanceVM
	}
	return InstanceContainer
}

// Unified says the image is one file, as a unified image is.
func (j ImageJSON) Unified() bool {
	return len(j.Files) == 1
}

// Marshal returns image.json: two-space indented JSON, keys in a fixed
// order (struct fields as declared, map keys sorted), packages sorted, no
// HTML escaping, a final newline. It refuses a j that fails Check.
func (j ImageJSON) Marshal() ([]byte, error) {
	if err := j.Check(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", ImageJSONName, err)
	}
	if j.Properties == nil {
		j.Properties = map[string]string{}
	}
	if j.Files == nil {
		j.Files = []FileInfo{}
	}
	j.Packages = slices.Clone(j.Packages)
	if j.Packages == nil {
		j.Packages = []Package{}
	}
	sortPackages(j.Packages)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(j); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ImageJSONName, err)
	}
	return buf.Bytes(), nil
}

// WriteImageJSON writes dir/image.json atomically.
func WriteImageJSON(dir string, j ImageJSON) error {
	data, err := j.Marshal()
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, ImageJSONName), data, 0o644)
}

// ReadImageJSON reads and checks dir/image.json; unknown fields are
// errors, since they mean a newer builder wrote it.
func ReadImageJSON(dir string) (ImageJSON, error) {
	path := filepath.Join(dir, ImageJSONName)
	data, err := os.ReadFile(path)
	if err != nil {
		return ImageJSON{}, fmt.Errorf("reading image description: %w", err)
	}
	var j ImageJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return ImageJSON{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := j.Check(); err != nil {
		return ImageJSON{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return j, nil
}

// CheckFiles checks that dir holds every file j lists, as a regular file
// of the size j records, and names each one that is missing or changed.
// It reads no contents (the daemon checks the fingerprint), so delivery
// can call it before it looks for a daemon.
func CheckFiles(dir string, j ImageJSON) error {
	var errs []error
	for _, f := range j.Files {
		path := filepath.Join(dir, f.Name)
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Errorf("%s is missing (image.json lists it as the %s file)", path, f.Role))
		case err != nil:
			errs = append(errs, err)
		case !st.Mode().IsRegular():
			errs = append(errs, fmt.Errorf("%s is not a regular file", path))
		case st.Size() != f.Size:
			errs = append(errs, fmt.Errorf("%s is %d bytes, but image.json says %d", path, st.Size(), f.Size))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the output directory %s does not hold the image its image.json describes; build or pack it again: %w", dir, errors.Join(errs...))
	}
	return nil
}

// SHA256SUMS returns the SHA256SUMS text for files, in the format
// `sha256sum` prints and `sha256sum -c` reads: "<hex>  <name>\n" lines
// sorted by name. Names that sha256sum would escape (with a backslash or
// newline) are refused, as are names that are not bare.
func SHA256SUMS(files []FileInfo) ([]byte, error) {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	for i, f := range sorted {
		if err := checkBareName(f.Name); err != nil {
			return nil, fmt.Errorf("writing %s: %w", SHA256SUMSName, err)
		}
		if strings.ContainsAny(f.Name, "\\\n\r") {
			return nil, fmt.Errorf("writing %s: %q would need sha256sum's escaping", SHA256SUMSName, f.Name)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return nil, fmt.Errorf("writing %s: %s listed twice", SHA256SUMSName, f.Name)
		}
		if !isSHA256(f.SHA256) {
			return nil, fmt.Errorf("writing %s: %s: sha256 %q is not 64 lowercase hex digits", SHA256SUMSName, f.Name, f.SHA256)
		}
		fmt.Fprintf(&buf, "%s  %s\n", f.SHA256, f.Name)
	}
	return buf.Bytes(), nil
}

// WriteSHA256SUMS writes dir/SHA256SUMS atomically; see SHA256SUMS.
func WriteSHA256SUMS(dir string, files []FileInfo) error {
	data, err := SHA256SUMS(files)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, SHA256SUMSName), data, 0o644)
}

func isSHA256(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// checkBase keeps base and base_fingerprint consistent: both or
// neither, the same fingerprint, of a known kind.
func (j ImageJSON) checkBase() error {
	b := j.Base
	switch {
	case b == nil && j.BaseFingerprint != "":
		return fmt.Errorf("base_fingerprint %s without a base", j.BaseFingerprint)
	case b == nil:
		return nil
	case b.Fingerprint != j.BaseFingerprint:
		return fmt.Errorf("base_fingerprint %q is not the base's fingerprint %q", j.BaseFingerprint, b.Fingerprint)
	case b.Kind == "image" && !isSHA256(b.Fingerprint):
		return fmt.Errorf("base: fingerprint %q is not 64 lowercase hex digits", b.Fingerprint)
	case b.Kind == "oci" && !(strings.HasPrefix(b.Fingerprint, "sha256:") && isSHA256(strings.TrimPrefix(b.Fingerprint, "sha256:"))):
		return fmt.Errorf("base: digest %q is not sha256: and 64 lowercase hex digits", b.Fingerprint)
	case b.Kind != "image" && b.Kind != "oci":
		return fmt.Errorf("base: unknown kind %q", b.Kind)
	case b.Source == "":
		return errors.New("base: no source")
	}
	return nil
}
