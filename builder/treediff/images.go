package treediff

import (
	"context"
	"fmt"
	"io"
	"os"
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
	// SBOM compares the SBOMs beside the images (image.json's sbom),
	// which the fingerprint does not cover; nil when neither has one.
	SBOM *DocumentReport `json:"sbom,omitempty"`
}

// DocumentReport compares a document beside the image in both
// directories.
type DocumentReport struct {
	Name    string `json:"name"`
	SHA256A string `json:"sha256_a"`
	SHA256B string `json:"sha256_b"`
	// FirstDifference is the first line that differs, with both sides:
	// `line 12: "…" → "…"`; empty when they are the same.
	FirstDifference string `json:"first_difference,omitempty"`
}

// Same reports whether the two images are the same: one fingerprint,
// and the same SBOM bytes.
func (r ImageReport) Same() bool {
	return r.FingerprintA == r.FingerprintB && (r.SBOM == nil || r.SBOM.SHA256A == r.SBOM.SHA256B)
}

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
	if ja.SBOM != nil || jb.SBOM != nil {
		if r.SBOM, err = compareDocuments(a, b, ja.SBOM, jb.SBOM); err != nil {
			return ImageReport{}, err
		}
	}
	return r, nil
}

// maxDocument bounds what compareDocuments reads of a document to find
// its first differing line: a Debian image's SBOM takes a few MiB.
const maxDocument = 64 << 20

// compareDocuments compares a document beside the two images; either
// may be missing.
func compareDocuments(dirA, dirB string, a, b *image.Document) (*DocumentReport, error) {
	d := &DocumentReport{}
	var textA, textB []byte
	for _, side := range []struct {
		dir  string
		doc  *image.Document
		sum  *string
		text *[]byte
	}{{dirA, a, &d.SHA256A, &textA}, {dirB, b, &d.SHA256B, &textB}} {
		if side.doc == nil {
			continue
		}
		d.Name, *side.sum = side.doc.Name, side.doc.SHA256
		text, err := readBounded(filepath.Join(side.dir, side.doc.Name), maxDocument)
		if err != nil {
			return nil, err
		}
		*side.text = text
	}
	if d.SHA256A != d.SHA256B {
		d.FirstDifference = firstDifference(textA, textB)
	}
	return d, nil
}

// readBounded reads at most limit bytes of a file.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

// firstDifference names the first line where a and b differ, each side
// quoted and cut to 120 bytes.
func firstDifference(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y || i >= len(la) || i >= len(lb) {
			return fmt.Sprintf("line %d: %s → %s", i+1, quote(cut(x, 120)), quote(cut(y, 120)))
		}
	}
	return ""
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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
	if r.FingerprintA == r.FingerprintB {
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
	if d := r.SBOM; d != nil && d.SHA256A != d.SHA256B {
		fmt.Fprintf(&b, "%s (sbom) differs: sha256 %.12s → %.12s\n", d.Name, d.SHA256A, d.SHA256B)
		if d.FirstDifference != "" {
			fmt.Fprintf(&b, "  first at %s\n", d.FirstDifference)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
