package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/recipe"
)

func imagePlan(cfg *bootstrap.Config) *recipe.Plan {
	return &recipe.Plan{Steps: []recipe.Step{{Kind: "bootstrap", Name: "image", Enabled: true, Action: cfg}}}
}

// TestBaseRecord: builder rootfs records the base beside the rootfs and
// pack takes it, metadata and all, for a recipe naming the base as the
// rootfs's did; another block, a pin of another base, or a directory made
// again by other means are not given the record.
func TestBaseRecord(t *testing.T) {
	fp1, fp2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := &bootstrap.Base{Kind: bootstrap.BaseImage, Source: "lxd", Reference: "base", Fingerprint: fp1,
		Properties: map[string]string{"k": "v"}, Templates: []bootstrap.BaseTemplate{{Path: "/etc/hostname", Name: "hostname.tpl", Content: "x"}}}
	built := &bootstrap.Config{Backend: "image", Daemon: "lxd", Alias: "base", Base: base}
	if err := WriteBaseRecord(dir, imagePlan(built)); err != nil {
		t.Fatal(err)
	}

	packing := &bootstrap.Config{Backend: "image", Daemon: "lxd", Alias: "base"}
	var log strings.Builder
	if err := UseBaseRecord(dir, []*recipe.Plan{imagePlan(packing)}, &log); err != nil {
		t.Fatal(err)
	}
	if packing.Base == nil || packing.Base.Fingerprint != fp1 || packing.Base.Properties["k"] != "v" || len(packing.Base.Templates) != 1 || log.Len() != 0 {
		t.Errorf("the recorded base was not given: %+v (%s)", packing.Base, log.String())
	}

	other := &bootstrap.Config{Backend: "image", Daemon: "incus", Alias: "base"}
	if err := UseBaseRecord(dir, []*recipe.Plan{imagePlan(other)}, nil); err == nil || !strings.Contains(err.Error(), "pack it with the recipe it was built from") || other.Base != nil {
		t.Errorf("another block: %v", err)
	}
	pinned := &bootstrap.Config{Backend: "image", Daemon: "lxd", Alias: "base", Fingerprint: fp2}
	var pinErr *bootstrap.PinError
	if err := UseBaseRecord(dir, []*recipe.Plan{imagePlan(pinned)}, nil); !errors.As(err, &pinErr) || pinErr.Got != fp1 || pinned.Base != nil {
		t.Errorf("a pin of another base: %v", err)
	}

	// The directory made again (not by builder rootfs): no record.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	again := &bootstrap.Config{Backend: "image", Daemon: "lxd", Alias: "base"}
	log.Reset()
	if err := UseBaseRecord(dir, []*recipe.Plan{imagePlan(again)}, &log); err != nil || again.Base != nil || !strings.Contains(log.String(), "no record of the base") {
		t.Errorf("a directory made again: %v, %+v, %q", err, again.Base, log.String())
	}

	// A rootfs built on no existing image leaves no record.
	if err := WriteBaseRecord(dir, imagePlan(&bootstrap.Config{Backend: "busybox"})); err != nil {
		t.Fatal(err)
	}
	if path, _ := BaseRecordPath(dir); fileExists(path) {
		t.Errorf("%s is left after a rootfs on no base", path)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
