package treediff

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/internal/testenv"
)

// Everything sqfs2tar could lose, it keeps: two squashfs images made
// with builder's mksquashfs options from trees that differ in one
// thing per path compare with exactly those differences, and each
// tree against its own squashfs differs in mtimes only (-all-time).
func TestSquashfsKeepsEveryDifference(t *testing.T) {
	testenv.Root(t) // device nodes, owners, trusted.* xattrs
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	testenv.Command(t, "sqfs2tar", "squashfs-tools-ng")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tree := func(variant int) string {
		root := t.TempDir()
		v := []byte{'v', 0, 0xff}[:1+2*variant] // binary in B
		mustWrite(t, filepath.Join(root, "d/f"), "x", 0o644)
		for _, name := range []string{"a", "c"} {
			mustWrite(t, filepath.Join(root, name), "same\n", 0o644)
		}
		mustWrite(t, filepath.Join(root, "empty-xattr"), "x", 0o644)
		mustWrite(t, filepath.Join(root, "owned"), "x", 0o644)
		// b is a hard link to a in A, to c (same contents) in B.
		must(os.Link(filepath.Join(root, []string{"a", "c"}[variant]), filepath.Join(root, "b")))
		// 3 MiB with a zero MiB in the middle, which squashfs stores
		// as a hole: B has one byte set in it.
		big := make([]byte, 3<<20)
		for i := range 1 << 20 {
			big[i], big[2<<20+i] = byte(i*7+3), byte(i)
		}
		big[1<<20+5] = byte(variant)
		must(os.WriteFile(filepath.Join(root, "sparse"), big, 0o644))
		must(os.Symlink("a", filepath.Join(root, "symlink")))
		must(unix.Setxattr(root, "user.root", v, 0))
		must(unix.Setxattr(filepath.Join(root, "d"), "user.dir", v, 0))
		must(unix.Lsetxattr(filepath.Join(root, "symlink"), "trusted.link", v, 0))
		if variant == 1 {
			must(unix.Setxattr(filepath.Join(root, "empty-xattr"), "user.empty", nil, 0))
		}
		must(unix.Mknod(filepath.Join(root, "dev"), unix.S_IFCHR|0o600, int(unix.Mkdev(uint32(1+300*variant), uint32(3+70000*variant)))))
		must(os.Lchown(filepath.Join(root, "owned"), 1000+variant, 2000000+variant))
		return root
	}
	var images []string
	for variant := range 2 {
		root := tree(variant)
		p := filepath.Join(t.TempDir(), "rootfs.squashfs")
		if _, err := pack.WriteSquashfs(context.Background(), root, p, pack.SquashfsOptions{Compression: pack.Compression{Algorithm: mustAlg(t, "gzip"), Level: 6}, Epoch: &t0}); err != nil {
			t.Fatal(err)
		}
		images = append(images, p)
		for _, e := range compare(t, root, p).Entries {
			if !slices.Equal(e.What, []string{WhatMTime}) {
				t.Errorf("tree %d against its squashfs: %s %s %v", variant, e.Kind, e.Path, e.Details)
			}
		}
	}
	r := compare(t, images[0], images[1])
	want := []string{
		"changed / xattr",
		"changed /b hardlink",
		"changed /c hardlink",
		"changed /d xattr",
		"changed /dev device",
		"changed /empty-xattr xattr",
		"changed /owned owner",
		"changed /sparse content",
		"changed /symlink xattr",
	}
	if got := summary(r); !slices.Equal(got, want) {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
