package treediff

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/builder-images/builder/builder/image"
)

// ImageReport compares two output directories of one image, as
// `builder repro` does with its two builds: their fingerprints, then
// each file of the image, and the trees of the files that differ.
type ImageReport struct {
	// A and B are the output directories.
	A string `json:"a"`
	B string `json:"b"`
	// FingerprintA and FingerprintB are their images' fingerprints.
	FingerprintA string `json:"fingerprint_a"`
	FingerprintB string `json:"fingerprint_b"`
	// Files are the image's files, in image.json's order.
	Files []FileReport `json:"files"`
}

// Same reports whether the two images are the same: one fingerprint.
func (r ImageReport) Same() bool { return r.FingerprintA == r.FingerprintB }

// FileReport is one file of the image in both directories.
type FileReport struct {
	// Name is the file's name in A; NameB its name in B when another.
	Name  string     `json:"name"`
	NameB string     `json:"name_b,omitempty"`
	Role  image.Role `json:"role"`
	// SHA256A and SHA256B are the file's sha256 in each directory.
	SHA256A string `json:"sha256_a"`
	SHA256B string `json:"sha256_b"`
	// Tree compares the file's trees when the files differ and treediff
	// reads them (every file but a VM's disk).
	Tree *Report `json:"tree,omitempty"`
	// Note says why a differing file has no tree report, or that its
	// trees are the same and so the difference is in their encoding.
	Note string `json:"note,omitempty"`
}

// Same reports whether the file is the same in both directories.
func (f FileReport) Same() bool { return f.SHA256A == f.SHA256B && f.Name == f.nameB() }

func (f FileReport) nameB() string {
	if f.NameB != "" {
		return f.NameB
	}
	return f.Name
}

// Notes a FileReport carries.
const (
	NoteSameTrees = "the trees are the same: the files differ in how they are encoded (entry order, headers or compression)"
	NoteDisk      = "a virtual machine's disk: treediff reads no qcow2, so what differs inside it is not shown"
	NoteOtherFile = "the images' files differ in role or number: they are not two builds of one output"
)

// CompareImages compares the images in the output directories a and b
// (each with its image.json). Files that differ are read as trees and
// compared, both at once.
func CompareImages(ctx context.Context, a, b string) (ImageReport, error) {
	ja, err := image.ReadImageJSON(a)
	if err != nil {
		return ImageReport{}, err
	}
	jb, err := image.ReadImageJSON(b)
	if err != nil {
		return ImageReport{}, err
	}
	r := ImageReport{A: a, B: b, FingerprintA: ja.Fingerprint, FingerprintB: jb.Fingerprint}
	for i, fa := range ja.Files {
		f := FileReport{Name: fa.Name, Role: fa.Role, SHA256A: fa.SHA256}
		if i >= len(jb.Files) || jb.Files[i].Role != fa.Role {
			f.Note = NoteOtherFile
			r.Files = append(r.Files, f)
			continue
		}
		fb := jb.Files[i]
		f.SHA256B = fb.SHA256
		if fb.Name != fa.Name {
			f.NameB = fb.Name
		}
		if !f.Same() {
			if err := f.compareTrees(ctx, filepath.Join(a, fa.Name), filepath.Join(b, fb.Name)); err != nil {
				return ImageReport{}, err
			}
		}
		r.Files = append(r.Files, f)
	}
	for _, fb := range jb.Files[min(len(ja.Files), len(jb.Files)):] {
		r.Files = append(r.Files, FileReport{Name: fb.Name, Role: fb.Role, SHA256B: fb.SHA256, Note: NoteOtherFile})
	}
	return r, nil
}

// compareTrees fills in how two differing files' trees differ.
func (f *FileReport) compareTrees(ctx context.Context, a, b string) error {
	if f.Role == image.RoleDisk {
		f.Note = NoteDisk
		return nil
	}
	sa, err := Open(a)
	if err != nil {
		return err
	}
	sb, err := Open(b)
	if err != nil {
		return err
	}
	rep, err := Compare(ctx, sa, sb)
	if err != nil {
		return err
	}
	f.Tree = &rep
	if rep.Same() {
		f.Note = NoteSameTrees
	}
	return nil
}

// Write prints the report for people: the fingerprints, then each file
// that differs with its trees' differences (limit paths each, see
// Report.Write).
func (r ImageReport) Write(w io.Writer, limit int) error {
	var b strings.Builder
	if r.Same() {
		fmt.Fprintf(&b, "same fingerprint %s\n", r.FingerprintA)
	} else {
		fmt.Fprintf(&b, "fingerprint %s (%s)\n          ≠ %s (%s)\n", r.FingerprintA, r.A, r.FingerprintB, r.B)
	}
	for _, f := range r.Files {
		if f.Same() {
			continue
		}
		name := f.Name
		if f.NameB != "" {
			name += " / " + f.NameB
		}
		fmt.Fprintf(&b, "%s (%s) differs: sha256 %.12s → %.12s\n", name, f.Role, f.SHA256A, f.SHA256B)
		if f.Note != "" {
			fmt.Fprintf(&b, "  %s\n", f.Note)
		}
		if f.Tree != nil && !f.Tree.Same() {
			var tree strings.Builder
			if err := f.Tree.Write(&tree, limit); err != nil {
				return err
			}
			for _, line := range strings.SplitAfter(strings.TrimSuffix(tree.String(), "\n"), "\n") {
				b.WriteString("  " + strings.TrimSuffix(line, "\n") + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
