package output

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

// TestPackWritesTests: a container output's image.json records the
// recipe's enabled tests that run on containers, with the block's file
// and line, and reads back the same.
func TestPackWritesTests(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.hcl")
	src := `image {
  name         = "tiny"
  distribution = "d"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" {}
test "motd" {
  script = "test -s /etc/motd"
}
test "efi" {
  on     = ["vm"]
  script = "test -d /sys/firmware/efi"
}
test "off" {
  enabled = false
  script  = "false"
}
output {
  type        = "unified"
  compression = "gzip"
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1767225600, 0).UTC()
	out := filepath.Join(dir, "out")
	j, err := Pack(context.Background(), PackOptions{Plan: plan, Rootfs: rootfs, Output: out, Created: epoch, Epoch: &epoch, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []image.Test{{Name: "motd", Script: "test -s /etc/motd", On: []string{"container", "vm"}, Timeout: 300, File: path, Line: 8}}
	if !reflect.DeepEqual(j.Tests, want) {
		t.Errorf("packed tests %+v, want %+v", j.Tests, want)
	}
	back, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Tests, want) {
		t.Errorf("image.json's tests %+v, want %+v", back.Tests, want)
	}
}
