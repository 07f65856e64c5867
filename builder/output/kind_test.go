package output

import (
	"slices"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// Every output type the recipe language accepts has a kind, under its
// name, writing the files LXD expects.
func TestKinds(t *testing.T) {
	gz, err := pack.ParseCompression("gzip")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ, rootfs, imageType string
		files                  []string
	}{
		{recipe.OutputSplit, recipe.RootfsSquashfs, image.TypeSplit, []string{"lxd.tar.gz", "rootfs.squashfs"}},
		{recipe.OutputSplit, recipe.RootfsTar, image.TypeSplit, []string{"lxd.tar.gz", "rootfs.tar.gz"}},
		{recipe.OutputUnified, recipe.RootfsTar, image.TypeUnified, []string{"demo.tar.gz"}},
		{recipe.OutputVM, "", image.TypeVM, []string{"lxd.tar.gz", "disk.qcow2"}},
	} {
		kind, err := LookupKind(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		plan := &recipe.Plan{Image: recipe.Image{Name: "demo"}, Output: recipe.Output{Type: tc.typ, RootfsFormat: tc.rootfs, Compression: gz}}
		if kind.Name() != tc.typ || kind.ImageType() != tc.imageType {
			t.Errorf("%s: the kind is %s, image type %s", tc.typ, kind.Name(), kind.ImageType())
		}
		if got := kind.FileNames(plan); !slices.Equal(got, tc.files) {
			t.Errorf("%s/%s: files %v, want %v", tc.typ, tc.rootfs, got, tc.files)
		}
	}
	if _, err := LookupKind("vmdk"); err == nil {
		t.Error("an unknown type has a kind")
	}
	// The unified VM form, which no output type names yet.
	plan := &recipe.Plan{Image: recipe.Image{Name: "demo"}, Output: recipe.Output{Type: recipe.OutputVM, Compression: gz}}
	if got := (vm{unified: true}).FileNames(plan); !slices.Equal(got, []string{"demo.tar.gz"}) {
		t.Errorf("unified vm: files %v", got)
	}
}
