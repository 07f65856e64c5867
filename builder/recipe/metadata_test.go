package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// TestMetadataSizeLimit: validation refuses exactly the recipes whose
// metadata.yaml would pass the 1 MiB that LXD and Incus read, as rendered
// for the latest creation date a build can write, and a recipe it accepts
// renders within the limit at any real build time.
func TestMetadataSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.hcl")
	src := `variable "notes" {}
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
  properties   = { notes = var.notes }
}
bootstrap "busybox" {}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(n int) (*Plan, int) {
		t.Helper()
		plan, diags := NewLoader().Load(path, Options{Vars: []string{"notes=" + strings.Repeat("x", n)}, HostArch: "amd64"})
		if plan == nil {
			t.Fatalf("%v", diags)
		}
		return plan, len(diags)
	}
	plan, _ := load(1000)
	md, err := image.NewMetadata(plan.ImageSpec(), latestCreation())
	if err != nil {
		t.Fatal(err)
	}
	data, err := md.YAML()
	if err != nil {
		t.Fatal(err)
	}
	fits := 1000 + image.MaxMetadataSize - len(data)

	plan, n := load(fits)
	if n != 0 {
		t.Fatalf("metadata of exactly %d bytes: %d diagnostics, want none", image.MaxMetadataSize, n)
	}
	for _, created := range []time.Time{time.Unix(1, 0), time.Now(), latestCreation()} {
		md, err := image.NewMetadata(plan.ImageSpec(), created)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := md.YAML(); err != nil {
			t.Errorf("validation accepted the recipe, a build at %s refuses it: %v", created, err)
		}
	}
	if _, n := load(fits + 1); n != 1 {
		t.Errorf("metadata of %d bytes: %d diagnostics, want 1", image.MaxMetadataSize+1, n)
	}
}
