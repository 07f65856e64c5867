package build

import (
	"context"
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

// TestResolveBasesChecksBaseTemplates: a base template builder would
// refuse to ship (here a banned include) fails the resolve phase, naming
// it and drop_templates, before a rootfs is built on the base only for
// pack to refuse it; dropped, it does not.
func TestResolveBasesChecksBaseTemplates(t *testing.T) {
	load := func(block string) *recipe.Plan {
		path := filepath.Join(t.TempDir(), "r.hcl")
		src := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n  architecture = \"amd64\"\n}\n" + block
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		plan, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return plan
	}
	base := &bootstrap.Base{Kind: bootstrap.BaseImage, Source: "lxd", Fingerprint: strings.Repeat("1", 64), Templates: []bootstrap.BaseTemplate{
		{Path: "/etc/hostname", Name: "hostname.tpl", Content: "{{ container.name }}\n", When: []string{"create"}},
		{Path: "/etc/secret", Name: "secret.tpl", Content: "{% include \"/etc/shadow\" %}\n", When: []string{"create"}},
	}}
	plan := load("bootstrap \"image\" {\n  alias = \"base\"\n}\n")
	plan.Bootstrap().Base = base
	err := ResolveBases(context.Background(), []*recipe.Plan{plan}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "/etc/secret") || !strings.Contains(err.Error(), "drop_templates") {
		t.Errorf("a base template with a banned tag: %v", err)
	}
	plan = load("bootstrap \"image\" {\n  alias = \"base\"\n  drop_templates = [\"/etc/secret\"]\n}\n")
	plan.Bootstrap().Base = base
	if err := ResolveBases(context.Background(), []*recipe.Plan{plan}, ResolveOptions{}); err != nil {
		t.Errorf("the template dropped: %v", err)
	}
}

// TestResolveBasesNamesTheBlock: a failure to resolve the base names the
// recipe's bootstrap block by file, line and column.
func TestResolveBasesNamesTheBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.hcl")
	src := "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\n\nbootstrap \"image\" {\n  alias = \"base\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan.Bootstrap().Alias = "" // fails before any daemon is asked
	err := ResolveBases(context.Background(), []*recipe.Plan{plan}, ResolveOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), path+":6:1: ") {
		t.Errorf("the error does not start with the block's position %s:6:1: %v", path, err)
	}
}
