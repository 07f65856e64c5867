package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

func TestLoadImage(t *testing.T) {
	dir := t.TempDir()
	md := "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: busybox\n  variant: cloud\ntemplates:\n  /etc/hostname:\n    when: [create]\n    create_only: false\n    template: hostname.tpl\n"
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{{"metadata.yaml", md}, {"templates/hostname.tpl", "{{ container.name }}\n"}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.tar.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	fp := hex.EncodeToString(sum[:])
	j := image.ImageJSON{Name: "x", Fingerprint: fp, Type: image.TypeUnified, Architecture: "x86_64",
		Properties: map[string]string{"os": "busybox", "variant": "cloud"},
		Files:      []image.FileInfo{{Name: "x.tar.gz", Role: image.RoleUnified, SHA256: fp, Size: int64(buf.Len())}},
		Tests:      []image.Test{{Name: "t", Script: "true\n", On: []string{"container"}, Timeout: 10, File: "r.hcl", Line: 3}}}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	img, err := LoadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Metadata.Templates["/etc/hostname"]; !ok || img.Metadata.Properties["os"] != "busybox" {
		t.Errorf("metadata %+v", img.Metadata)
	}
	if img.Name() != "x" || !img.Cloud() || len(img.Tests) != 1 || img.InstanceType() != image.InstanceContainer {
		t.Errorf("image %+v", img)
	}
	if err := os.Truncate(filepath.Join(dir, "x.tar.gz"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImage(dir); err == nil || !strings.Contains(err.Error(), "does not hold the image") {
		t.Errorf("a changed file: %v", err)
	}
}
