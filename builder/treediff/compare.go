package treediff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/builder-images/builder/builder/pack"
)

// Entry kinds.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// What differs about a changed path, in the order Entry.What lists them.
const (
	WhatType     = "type"
	WhatContent  = "content"
	WhatLink     = "link"
	WhatHardlink = "hardlink"
	WhatDevice   = "device"
	WhatMode     = "mode"
	WhatOwner    = "owner"
	WhatMTime    = "mtime"
	WhatXattr    = "xattr"
)

// Entry is one path that differs.
type Entry struct {
	Path string `json:"path"`
	// Kind is Added (only in B), Removed (only in A) or Changed.
	Kind string `json:"kind"`
	// What lists what differs about a changed path (the What
	// constants); a path whose type changed lists only WhatType.
	What []string `json:"what,omitempty"`
	// Details say, for each of What in order, how it differs: "mode
	// 0644 → 0755". Values from the trees are quoted when they hold
	// anything but printable characters.
	Details []string `json:"details,omitempty"`
	// A and B are the path's nodes in either tree; nil where absent.
	A *Node `json:"a,omitempty"`
	B *Node `json:"b,omitempty"`
}

// Report is the difference between two trees.
type Report struct {
	// A and B name the trees compared.
	A string `json:"a"`
	B string `json:"b"`
	// Entries are the paths that differ, in tree order (a directory
	// right before its contents).
	Entries []Entry `json:"entries"`
}

// Same reports whether the trees are the same.
func (r Report) Same() bool { return len(r.Entries) == 0 }

// Compare reads a and b, at once, and compares them.
func Compare(ctx context.Context, a, b Source) (Report, error) {
	ta, tb, err := ReadBoth(ctx, a, b, Options{})
	if err != nil {
		return Report{}, err
	}
	return CompareTrees(ta, tb), nil
}

// ReadBoth reads two trees at once, with the same options. The first to
// fail cancels the other, and its error is the one reported, not the
// cancellation it caused.
func ReadBoth(ctx context.Context, a, b Source, opts Options) (*Tree, *Tree, error) {
	type result struct {
		t   *Tree
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bc := make(chan result, 1)
	go func() {
		t, err := Read(ctx, b, opts)
		if err != nil {
			cancel() // no point reading a without b
		}
		bc <- result{t, err}
	}()
	ta, errA := Read(ctx, a, opts)
	if errA != nil {
		cancel()
	}
	rb := <-bc
	switch {
	case errA != nil && (rb.err == nil || !errors.Is(errA, context.Canceled)):
		return nil, nil, errA
	case rb.err != nil:
		return nil, nil, rb.err
	}
	return ta, rb.t, nil
}

// CompareTrees compares two trees read.
func CompareTrees(a, b *Tree) Report {
	r := Report{A: a.Source.String(), B: b.Source.String()}
	paths := slices.Collect(maps.Keys(a.Nodes))
	for p := range b.Nodes {
		if _, ok := a.Nodes[p]; !ok {
			paths = append(paths, p)
		}
	}
	// Tree order: the order pack writes, a directory before its contents.
	slices.SortFunc(paths, pack.CompareNames)
	for _, p := range paths {
		na, nb := a.Nodes[p], b.Nodes[p]
		switch {
		case nb == nil:
			r.Entries = append(r.Entries, Entry{Path: p, Kind: Removed, A: na})
		case na == nil:
			r.Entries = append(r.Entries, Entry{Path: p, Kind: Added, B: nb})
		default:
			if what, details := diffNodes(na, nb); len(what) > 0 {
				r.Entries = append(r.Entries, Entry{Path: p, Kind: Changed, What: what, Details: details, A: na, B: nb})
			}
		}
	}
	return r
}

// diffNodes says what differs between two nodes of one path, and how.
func diffNodes(a, b *Node) (what, details []string) {
	add := func(w, format string, args ...any) {
		what, details = append(what, w), append(details, w+" "+fmt.Sprintf(format, args...))
	}
	if a.Type != b.Type {
		// Nothing else compares across types: a file's size says
		// nothing next to a directory's.
		add(WhatType, "%s → %s", a.Type, b.Type)
		return what, details
	}
	if a.Size != b.Size || a.SHA256 != b.SHA256 {
		add(WhatContent, "%s → %s", contentSummary(a), contentSummary(b))
	}
	if a.Link != b.Link {
		add(WhatLink, "%s → %s", quote(a.Link), quote(b.Link))
	}
	if a.Hardlink != b.Hardlink {
		add(WhatHardlink, "%s → %s", hardlinkSummary(a), hardlinkSummary(b))
	}
	if a.Major != b.Major || a.Minor != b.Minor {
		add(WhatDevice, "%d:%d → %d:%d", a.Major, a.Minor, b.Major, b.Minor)
	}
	if a.Mode != b.Mode {
		add(WhatMode, "%04o → %04o", a.Mode, b.Mode)
	}
	if a.UID != b.UID || a.GID != b.GID {
		add(WhatOwner, "%d:%d → %d:%d", a.UID, a.GID, b.UID, b.GID)
	}
	if !a.MTime.Equal(b.MTime) {
		add(WhatMTime, "%s → %s", a.MTime.Format(time.RFC3339Nano), b.MTime.Format(time.RFC3339Nano))
	}
	if !maps.Equal(a.Xattrs, b.Xattrs) {
		add(WhatXattr, "%s", xattrSummary(a.Xattrs, b.Xattrs))
	}
	return what, details
}

func contentSummary(n *Node) string {
	return fmt.Sprintf("%d bytes, sha256 %.12s", n.Size, n.SHA256)
}

func hardlinkSummary(n *Node) string {
	if n.Hardlink == "" {
		return "its own file"
	}
	return "a link to " + displayPath(n.Hardlink)
}

// xattrSummary names the attributes added, removed and changed.
func xattrSummary(a, b map[string]string) string {
	var parts []string
	names := slices.Sorted(maps.Keys(a))
	for name := range b {
		if _, ok := a[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		va, inA := a[name]
		vb, inB := b[name]
		switch {
		case !inA:
			parts = append(parts, quote(name)+" added")
		case !inB:
			parts = append(parts, quote(name)+" removed")
		case va != vb:
			parts = append(parts, quote(name)+" changed")
		}
	}
	return strings.Join(parts, ", ")
}

// Write prints the report for people, like diffoscope's summary: one
// line per path (kind, path, what differs), then one indented line per
// difference. limit > 0 prints that many paths and counts the rest.
func (r Report) Write(w io.Writer, limit int) error {
	var b strings.Builder
	for i, e := range r.Entries {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "… and %d more paths\n", len(r.Entries)-limit)
			break
		}
		switch e.Kind {
		case Changed:
			fmt.Fprintf(&b, "changed %s: %s\n", displayPath(e.Path), strings.Join(e.What, ", "))
			for _, d := range e.Details {
				fmt.Fprintf(&b, "    %s\n", d)
			}
		case Added:
			fmt.Fprintf(&b, "added   %s (%s)\n", displayPath(e.Path), nodeSummary(e.B))
		case Removed:
			fmt.Fprintf(&b, "removed %s (%s)\n", displayPath(e.Path), nodeSummary(e.A))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// nodeSummary is what an added or removed path is.
func nodeSummary(n *Node) string {
	switch n.Type {
	case TypeFile:
		return fmt.Sprintf("file, %d bytes", n.Size)
	case TypeSymlink:
		return "symlink to " + quote(n.Link)
	}
	return n.Type
}

// displayPath prints a path from a tree: as it is when every character
// is printable and not a quote or backslash, else Go-quoted, so that a
// hostile name cannot forge report lines or drive the terminal.
func displayPath(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) || r == '"' || r == '\\' {
			return strconv.Quote(p)
		}
	}
	return p
}

// quote prints a value from a tree (a link target, an xattr name),
// always quoted.
func quote(s string) string { return strconv.Quote(s) }
