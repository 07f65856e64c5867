package deliver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
)

// packTiny packs a one-file rootfs as a unified image and returns its
// output directory and image.json.
func packTiny(t *testing.T) (string, image.ImageJSON) {
	t.Helper()
	tmp := t.TempDir()
	path := filepath.Join(tmp, "tiny.hcl")
	src := `image {
  distribution = "tiny"
  release      = "1"
  architecture = "amd64"
  serial       = "20260101_0000"
}
bootstrap "directory" {
  source = "."
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
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "hostname"), []byte("tiny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	epoch := time.Unix(1767225600, 0).UTC()
	j, err := output.Pack(context.Background(), output.PackOptions{Plan: plan, Rootfs: rootfs, Output: out, Created: epoch, Epoch: &epoch, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out, j
}

// A tree target publishes once; the same image again is not sent.
func TestTreeDeliver(t *testing.T) {
	dir, j := packTiny(t)
	tree, err := OpenTree(filepath.Join(t.TempDir(), "tree"), nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var target Target = tree
	for i, sent := range []bool{true, false} {
		res, err := target.Deliver(context.Background(), dir, j)
		if err != nil {
			t.Fatal(err)
		}
		if res.Fingerprint != j.Fingerprint || res.Uploaded != sent || res.Publish == nil || res.Where == "" {
			t.Errorf("delivery %d: %+v", i, res)
		}
	}
}

// Settings that cannot work are SettingsErrors, found before any
// daemon is looked for.
func TestDaemonSettings(t *testing.T) {
	dir, j := packTiny(t)
	for name, d := range map[string]*Daemon{
		"daemon":          {Daemon: "docker"},
		"alias":           {Aliases: []string{"bad alias"}},
		"certs no remote": {ClientCert: "c.pem"},
	} {
		_, err := d.Deliver(context.Background(), dir, j)
		var settings *SettingsError
		if !errors.As(err, &settings) {
			t.Errorf("%s: got %v, want a SettingsError", name, err)
		}
	}
}
