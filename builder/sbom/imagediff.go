package sbom

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/treediff"
)

// ImageDiff is how two images differ: their packages, and their root
// filesystems beyond what the package changes account for.
type ImageDiff struct {
	A            string `json:"a"`
	B            string `json:"b"`
	FingerprintA string `json:"fingerprint_a"`
	FingerprintB string `json:"fingerprint_b"`
	// Packages are the package changes from A to B.
	Packages []Change `json:"packages"`
	// Rootfs is how the root filesystems differ; nil when they were not
	// compared (RootfsNote says why).
	Rootfs     *RootfsDiff `json:"rootfs,omitempty"`
	RootfsNote string      `json:"rootfs_note,omitempty"`
}

// RootfsDiff is how two root filesystems differ.
type RootfsDiff struct {
	// Differing counts the paths that differ; Accounted those of them
	// the package changes account for (see Accounted).
	Differing int `json:"differing"`
	Accounted int `json:"accounted"`
	// Beyond are the other differing paths, in tree order.
	Beyond []treediff.Entry `json:"beyond"`
}

// Same reports whether the two are one image: the same fingerprint.
func (d ImageDiff) Same() bool { return d.FingerprintA == d.FingerprintB }

// Notes on root filesystems not compared.
const (
	NoteSameImage    = "the images are the same"
	NotePackagesOnly = "not compared (--packages-only)"
)

// DiffImages compares the images in the output directories a and b:
// their packages from image.json, in dpkg's version order, then, when
// rootfs is set and the fingerprints differ, their root filesystems,
// read at once through builder/treediff with dpkg's file lists, so that
// the paths the package changes account for are told from the others.
// A root filesystem treediff cannot read (a VM's disk) is a note, not
// an error.
func DiffImages(ctx context.Context, a, b string, rootfs bool) (ImageDiff, error) {
	ja, err := image.ReadImageJSON(a)
	if err != nil {
		return ImageDiff{}, err
	}
	jb, err := image.ReadImageJSON(b)
	if err != nil {
		return ImageDiff{}, err
	}
	d := ImageDiff{A: a, B: b, FingerprintA: ja.Fingerprint, FingerprintB: jb.Fingerprint, Packages: DiffPackages(ja.Packages, jb.Packages)}
	switch {
	case d.Same():
		d.RootfsNote = NoteSameImage
		return d, nil
	case !rootfs:
		d.RootfsNote = NotePackagesOnly
		return d, nil
	}
	sa, errA := treediff.OpenRootfs(a)
	sb, errB := treediff.OpenRootfs(b)
	if err := errors.Join(errA, errB); err != nil {
		d.RootfsNote = "not compared: " + err.Error()
		return d, nil
	}
	ta, tb, err := treediff.ReadBoth(ctx, sa, sb, treediff.Options{Capture: IsDpkgList})
	if err != nil {
		return ImageDiff{}, err
	}
	report := treediff.CompareTrees(ta, tb)
	accounted := Accounted(d.Packages, ta, tb)
	d.Rootfs = &RootfsDiff{Differing: len(report.Entries), Beyond: []treediff.Entry{}}
	for _, e := range report.Entries {
		if accounted(e.Path) {
			d.Rootfs.Accounted++
			continue
		}
		d.Rootfs.Beyond = append(d.Rootfs.Beyond, e)
	}
	return d, nil
}

// Write prints the comparison for people: the fingerprints, each
// package change, then the root filesystems' differences beyond them
// (at most limit paths when limit > 0).
func (d ImageDiff) Write(w io.Writer, limit int) error {
	var b strings.Builder
	if d.Same() {
		fmt.Fprintf(&b, "same image: %s\n", d.FingerprintA)
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "fingerprints: %s → %s\n", d.FingerprintA, d.FingerprintB)
	counts := map[string]int{}
	for _, c := range d.Packages {
		counts[c.Kind]++
	}
	fmt.Fprintf(&b, "packages: %d added, %d removed, %d upgraded, %d downgraded\n",
		counts[PackageAdded], counts[PackageRemoved], counts[PackageUpgraded], counts[PackageDowngraded])
	for _, c := range d.Packages {
		switch c.Kind {
		case PackageAdded:
			fmt.Fprintf(&b, "  %-10s %s (%s) %s\n", c.Kind, c.Name, c.Architecture, c.To)
		case PackageRemoved:
			fmt.Fprintf(&b, "  %-10s %s (%s) %s\n", c.Kind, c.Name, c.Architecture, c.From)
		default:
			fmt.Fprintf(&b, "  %-10s %s (%s) %s → %s\n", c.Kind, c.Name, c.Architecture, c.From, c.To)
		}
	}
	switch {
	case d.Rootfs == nil:
		fmt.Fprintf(&b, "rootfs: %s\n", d.RootfsNote)
	case len(d.Rootfs.Beyond) == 0:
		fmt.Fprintf(&b, "rootfs: %d paths differ, all accounted for by the package changes\n", d.Rootfs.Differing)
	default:
		fmt.Fprintf(&b, "rootfs: %d paths differ, %d accounted for by the package changes; beyond them:\n", d.Rootfs.Differing, d.Rootfs.Accounted)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if d.Rootfs != nil && len(d.Rootfs.Beyond) > 0 {
		return treediff.Report{Entries: d.Rootfs.Beyond}.Write(w, limit)
	}
	return nil
}
