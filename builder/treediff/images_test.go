package treediff

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUnifiedImageAndOutputDirectory(t *testing.T) {
	tmp := t.TempDir()
	unified := writeTar(t, tmp, "u.tar", "none", file("metadata.yaml", "architecture: x86_64\n"), dir("rootfs/"), dir("rootfs/etc/"), file("rootfs/etc/motd", "hi\n"))
	split := writeTar(t, tmp, "rootfs.tar", "none", dir("./"), dir("etc/"), file("etc/motd", "hi\n"))
	r := compare(t, unified, split)
	want := []string{"added /", "removed /metadata.yaml", "removed /rootfs", "removed /rootfs/etc", "removed /rootfs/etc/motd", "added /etc", "added /etc/motd"}
	slices.Sort(want)
	got := summary(r)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("whole unified image against a rootfs: %v", got)
	}
	// The rootfs part alone.
	s, err := Open(unified)
	if err != nil {
		t.Fatal(err)
	}
	s.Prefix = unifiedRootfs
	ta, err := Read(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := Open(split)
	tb, err := Read(context.Background(), sb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := CompareTrees(ta, tb); !r.Same() {
		t.Errorf("unified rootfs against the split one: %v", summary(r))
	}
}

// writeOutput makes dir an output directory of a split image (files
// metadata then rootfs), a VM image (metadata then a .qcow2 disk) or a
// unified one (one file), with its image.json.
func writeOutput(t *testing.T, dir string, files ...string) {
	t.Helper()
	fingerprint := sha256.New()
	var records []string
	roles := []string{"metadata", "rootfs"}
	typ := "split"
	if len(files) == 1 {
		roles, typ = []string{"unified"}, "unified"
	}
	for i, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fingerprint.Write(data)
		records = append(records, fmt.Sprintf(`{"name":%q,"role":%q,"sha256":"%x","size":%d}`, filepath.Base(p), roles[i], sha256.Sum256(data), len(data)))
	}
	disk := ""
	if strings.HasSuffix(files[len(files)-1], ".qcow2") {
		records[1] = strings.Replace(records[1], `"role":"rootfs"`, `"role":"disk"`, 1)
		typ = "virtual-machine"
		disk = `"disk":{"format":"qcow2","size":4294967296,"filesystem":"ext4","secure_boot":true,
"disk_guid":"3b8c9f57-6a0e-4d4b-9c71-0f3e2a5d8e11","esp_partuuid":"a1c3e5f7-0b2d-4f68-8a9c-1e3f5a7c9b0d",
"root_partuuid":"5d7f9b1c-3e5a-4c7e-9f1b-3d5f7a9c1e3b","esp_serial":"1A2B-3C4D","root_uuid":"9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"},`
	}
	j := fmt.Sprintf(`{"fingerprint":"%x","type":%q,"architecture":"x86_64","properties":{},"files":[%s],%s"packages":[]}`,
		fingerprint.Sum(nil), typ, strings.Join(records, ","), disk)
	mustWrite(t, filepath.Join(dir, "image.json"), j, 0o644)
}

// addSBOM writes dir/sbom.spdx.json and records it in dir/image.json.
func addSBOM(t *testing.T, dir, content string) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "sbom.spdx.json"), content, 0o644)
	p := filepath.Join(dir, "image.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	j["sbom"] = map[string]any{"name": "sbom.spdx.json", "format": "spdx-2.3+json", "sha256": fmt.Sprintf("%x", sha256.Sum256([]byte(content))), "size": len(content)}
	if data, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, string(data), 0o644)
}

func TestOpenRootfsOfOutputDirectory(t *testing.T) {
	tmp := t.TempDir()
	rootfs := writeTar(t, tmp, "rootfs.tar.gz", "gzip", dir("./"), file("motd", "x"))
	writeOutput(t, tmp, writeTar(t, tmp, "lxd.tar.gz", "gzip", file("metadata.yaml", "x")), rootfs)
	s, err := Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path != rootfs || s.Kind != KindArchive || s.Prefix != "" {
		t.Errorf("Open(split output directory) = %+v, want its rootfs file", s)
	}
	unified := t.TempDir()
	writeOutput(t, unified, writeTar(t, unified, "u.tar.xz", "xz", file("metadata.yaml", "x"), dir("rootfs/")))
	if s, err = Open(unified); err != nil || s.Prefix != "rootfs/" || s.Kind != KindArchive {
		t.Errorf("Open(unified output directory) = %+v, %v; want its tarball's rootfs/", s, err)
	}
}

func TestCompareImages(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	meta := []member{file("metadata.yaml", "architecture: x86_64\n")}
	writeOutput(t, a, writeTar(t, a, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, a, "rootfs.tar.gz", "gzip", dir("./"), dir("etc/"), file("etc/build-time", "1700000000\n")))
	writeOutput(t, b, writeTar(t, b, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, b, "rootfs.tar.gz", "gzip", dir("./"), dir("etc/"), file("etc/build-time", "1700000009\n")))
	r, err := CompareImages(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Same() || len(r.Files) != 2 || !r.Files[0].Same() || r.Files[1].Same() || r.Files[1].Tree == nil {
		t.Fatalf("report %+v", r)
	}
	if got := summary(*r.Files[1].Tree); !slices.Equal(got, []string{"changed /etc/build-time content"}) {
		t.Errorf("rootfs differences %v", got)
	}
	var out strings.Builder
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fingerprint ", "\n          ≠ ", "rootfs.tar.gz (rootfs) differs: sha256 ", "\n  changed /etc/build-time: content\n      content 11 bytes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "lxd.tar.gz") {
		t.Errorf("the report names a file that is the same:\n%s", out.String())
	}

	// The same tree compressed otherwise: the files differ, the trees
	// do not.
	c := t.TempDir()
	writeOutput(t, c, writeTar(t, c, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, c, "rootfs.tar.gz", "gzip-1", dir("./"), dir("etc/"), file("etc/build-time", "1700000000\n")))
	if r, err = CompareImages(context.Background(), a, c); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.Files[1].Note != NoteSameTrees || !r.Files[1].Tree.Same() {
		t.Errorf("same trees, other encoding: %+v", r.Files[1])
	}
	// A VM's disk is named, not read.
	vmA, vmB := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(vmA, "disk.qcow2"), "QFI\xfb one", 0o644)
	mustWrite(t, filepath.Join(vmB, "disk.qcow2"), "QFI\xfb two", 0o644)
	writeOutput(t, vmA, writeTar(t, vmA, "lxd.tar.gz", "gzip", meta...), filepath.Join(vmA, "disk.qcow2"))
	writeOutput(t, vmB, writeTar(t, vmB, "lxd.tar.gz", "gzip", meta...), filepath.Join(vmB, "disk.qcow2"))
	if r, err = CompareImages(context.Background(), vmA, vmB); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.Files[1].Role != "disk" || r.Files[1].Note != NoteDisk || r.Files[1].Tree != nil {
		t.Errorf("VM disks: %+v", r.Files)
	}
	if _, err := Open(vmA); err == nil || !strings.Contains(err.Error(), "reads no qcow2") {
		t.Errorf("Open(VM output directory) = %v", err)
	}
	// Same images, SBOMs that differ: not the same, and the first
	// differing line shown.
	sbomA, sbomB := t.TempDir(), t.TempDir()
	for _, d := range []string{sbomA, sbomB} {
		writeOutput(t, d, writeTar(t, d, "lxd.tar.gz", "gzip", meta...), writeTar(t, d, "rootfs.tar.gz", "gzip", dir("./")))
	}
	addSBOM(t, sbomA, "{\n  \"created\": \"2023-11-14T22:13:20Z\"\n}\n")
	addSBOM(t, sbomB, "{\n  \"created\": \"2026-12-03T08:00:00Z\"\n}\n")
	if r, err = CompareImages(context.Background(), sbomA, sbomB); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.FingerprintA != r.FingerprintB || r.SBOM == nil || r.SBOM.FirstDifference != `line 2: "  \"created\": \"2023-11-14T22:13:20Z\"" → "  \"created\": \"2026-12-03T08:00:00Z\""` {
		t.Errorf("SBOMs that differ: %+v", r.SBOM)
	}
	out.Reset()
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	if want := "sbom.spdx.json (sbom) differs: sha256 "; !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	addSBOM(t, sbomB, "{\n  \"created\": \"2023-11-14T22:13:20Z\"\n}\n")
	if r, err = CompareImages(context.Background(), sbomA, sbomB); err != nil || !r.Same() {
		t.Errorf("the same SBOMs: %+v, %v", r.SBOM, err)
	}

	if r, err = CompareImages(context.Background(), a, a); err != nil || !r.Same() {
		t.Errorf("an image against itself: %+v, %v", r, err)
	}
}
