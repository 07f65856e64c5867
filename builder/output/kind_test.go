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
		plan := &recipe.Plan{Image: recipe.Image{Name: "demo"}, Output: recipe.Output{Type: tc.typ, RootfsFormat: tc.rootfs, Compression: gz}}
		kind, err := KindOf(plan.Output)
		if err != nil {
			t.Fatal(err)
		}
		if kind.Name() != tc.typ || kind.ImageType() != tc.imageType {
			t.Errorf("%s: the kind is %s, image type %s", tc.typ, kind.Name(), kind.ImageType())
		}
		if got := kind.FileNames(plan); !slices.Equal(got, tc.files) {
			t.Errorf("%s/%s: files %v, want %v", tc.typ, tc.rootfs, got, tc.files)
		}
	}
	if _, err := KindOf(recipe.Output{Type: "vmdk"}); err == nil {
		t.Error("an unknown type has a kind")
	}
	// The unified VM form: a vm output with unified = true, whose disk
	// the cache does not keep (it is inside the tarball).
	out := recipe.Output{Type: recipe.OutputVM, Compression: gz, VM: recipe.VMSettings{Unified: true}}
	kind, err := KindOf(out)
	if err != nil {
		t.Fatal(err)
	}
	plan := &recipe.Plan{Image: recipe.Image{Name: "demo"}, Output: out}
	if got := kind.FileNames(plan); kind.ImageType() != image.TypeVM || !slices.Equal(got, []string{"demo.tar.gz"}) {
		t.Errorf("unified vm: a %s image of files %v", kind.ImageType(), got)
	}
	if Reuses(out) || !Reuses(recipe.Output{Type: recipe.OutputVM}) || Reuses(recipe.Output{Type: recipe.OutputUnified}) {
		t.Error("Reuses: want the split vm form only of these")
	}
}
