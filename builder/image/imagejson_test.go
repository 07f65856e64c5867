package image_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// outputDir makes a split image's two files with fixed contents, so that
// their sums and the fingerprint are the same on every run.
func outputDir(t *testing.T) (string, []image.FileInfo, string) {
	t.Helper()
	dir := t.TempDir()
	writeRandom(t, dir, "lxd.tar.xz", 4096, 7)
	writeRandom(t, dir, "rootfs.squashfs", 100000, 8)
	fp, files, err := image.HashFiles(dir,
		image.FileInfo{Name: "lxd.tar.xz", Role: image.RoleMetadata},
		image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs})
	if err != nil {
		t.Fatal(err)
	}
	return dir, files, fp
}

// TestImageJSONGolden writes image.json and SHA256SUMS for a split debian
// image and compares them with testdata; image.json reads back equal, and
// sha256sum -c accepts SHA256SUMS.
func TestImageJSONGolden(t *testing.T) {
	dir, files, fp := outputDir(t)
	m, err := image.NewMetadata(loadPlan(t, "../../recipes/debian.hcl").ImageSpec(), created)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := image.ReadDpkgStatus(rootWithStatus(t, readFile(t, "testdata/dpkg/status")))
	if err != nil {
		t.Fatal(err)
	}
	sbomData := []byte("{}\n")
	if err := os.WriteFile(filepath.Join(dir, image.SBOMName), sbomData, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(sbomData)
	sbom := &image.Document{Name: image.SBOMName, Format: "spdx-2.3+json", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(sbomData))}
	j := image.ImageJSON{
		Fingerprint: fp, Type: image.TypeSplit, Architecture: m.Architecture,
		Properties: m.Properties, Files: files, Packages: pkgs, SBOM: sbom,
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteSHA256SUMS(dir, append(files, sbom.File())); err != nil {
		t.Fatal(err)
	}
	golden(t, "debian-default.image.json", []byte(readFile(t, filepath.Join(dir, "image.json"))))
	golden(t, "debian-default.SHA256SUMS", []byte(readFile(t, filepath.Join(dir, "SHA256SUMS"))))

	back, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, j) {
		t.Errorf("image.json read back as\n%+v\nwant\n%+v", back, j)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
	// Files appear under their final names only: no temporary file is
	// left, and the mode is exactly 0644.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if info, _ := e.Info(); (e.Name() == "image.json" || e.Name() == "SHA256SUMS") && info.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v", e.Name(), info.Mode())
		}
	}
	if want := []string{"SHA256SUMS", "image.json", "lxd.tar.xz", "rootfs.squashfs", "sbom.spdx.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("output directory holds %v, want %v", names, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestImageJSONDeterministic: package order and nil slices do not change
// the bytes.
func TestImageJSONDeterministic(t *testing.T) {
	_, files, fp := outputDir(t)
	j := image.ImageJSON{Fingerprint: fp, Type: image.TypeSplit, Architecture: "x86_64", Files: files, Packages: samplePackages}
	reversed := j
	reversed.Packages = nil
	for i := len(samplePackages) - 1; i >= 0; i-- {
		reversed.Packages = append(reversed.Packages, samplePackages[i])
	}
	a, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := reversed.Marshal()
	if string(a) != string(b) {
		t.Error("package order changed image.json")
	}
	j.Packages = nil
	out, _ := j.Marshal()
	if !strings.Contains(string(out), `"packages": []`) || !strings.Contains(string(out), `"properties": {}`) {
		t.Errorf("no packages or properties should be [] and {}:\n%s", out)
	}
}

func TestImageJSONCheck(t *testing.T) {
	_, files, fp := outputDir(t)
	unified := image.FileInfo{Name: "busybox-amd64.tar.gz", Role: image.RoleUnified, SHA256: files[1].SHA256, Size: 5}
	vmFiles := []image.FileInfo{files[0], {Name: "disk.qcow2", Role: image.RoleDisk, SHA256: files[1].SHA256, Size: files[1].Size}}
	disk := sampleDisk
	rawDisk, badGUID := sampleDisk, sampleDisk
	rawDisk.Format = "raw"
	badGUID.RootUUID = "not-a-uuid"
	tests := []struct {
		name string
		j    image.ImageJSON
		want string
	}{
		{"valid split", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files}, ""},
		{"valid unified", image.ImageJSON{Fingerprint: unified.SHA256, Type: "unified", Architecture: "aarch64", Files: []image.FileInfo{unified}}, ""},
		{"unified fingerprint is not the file's sum", image.ImageJSON{Fingerprint: fp, Type: "unified", Architecture: "x86_64", Files: []image.FileInfo{unified}}, "its file's sha256"},
		{"type does not match the files", image.ImageJSON{Fingerprint: fp, Type: "unified", Architecture: "x86_64", Files: files}, "make a split image"},
		{"rootfs before metadata", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: []image.FileInfo{files[1], files[0]}}, "not an image"},
		{"distribution architecture", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "amd64", Files: files}, "not an LXD architecture name"},
		{"uppercase fingerprint", image.ImageJSON{Fingerprint: strings.ToUpper(fp), Type: "split", Architecture: "x86_64", Files: files}, "lowercase hex"},
		{"path as a file name", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: []image.FileInfo{files[0], {Name: "../rootfs", Role: image.RoleRootfs, SHA256: fp}}}, "not a bare file name"},
		{"valid split vm", image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: vmFiles, Disk: &disk}, ""},
		{"valid unified vm", image.ImageJSON{Fingerprint: unified.SHA256, Type: image.TypeVM, Architecture: "x86_64", Files: []image.FileInfo{unified}, Disk: &disk}, ""},
		{"vm without its disk record", image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: vmFiles}, "no disk record"},
		{"container with a disk record", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Disk: &disk}, "only virtual-machine images"},
		{"disk under a container type", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: vmFiles}, "make a virtual-machine image"},
		{"rootfs under the vm type", image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: files, Disk: &disk}, "make a split image"},
		{"disk record with a raw disk", image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: vmFiles, Disk: &rawDisk}, `disk format "raw"`},
		{"valid sbom", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, SBOM: &image.Document{Name: image.SBOMName, Format: "spdx-2.3+json", SHA256: fp, Size: 2}}, ""},
		{"sbom named as an image file", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, SBOM: &image.Document{Name: files[1].Name, SHA256: fp}}, "also one of the image's files"},
		{"sbom named image.json", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, SBOM: &image.Document{Name: image.ImageJSONName, SHA256: fp}}, "also one of the image's files"},
		{"sbom with a path", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, SBOM: &image.Document{Name: "../sbom.json", SHA256: fp}}, "not a bare file name"},
		{"sbom without a sha256", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, SBOM: &image.Document{Name: image.SBOMName}}, "sha256"},
		{"disk record with a bad GUID", image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: vmFiles, Disk: &badGUID}, "root_uuid"},
		{"valid image base", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Base: &image.Base{Kind: "image", Source: "lxd", Reference: "debian/12", Fingerprint: fp}, BaseFingerprint: fp}, ""},
		{"valid oci base", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Base: &image.Base{Kind: "oci", Source: "127.0.0.1:5000/busybox", Fingerprint: "sha256:" + fp}, BaseFingerprint: "sha256:" + fp}, ""},
		{"base_fingerprint without a base", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, BaseFingerprint: fp}, "without a base"},
		{"base_fingerprint not the base's", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Base: &image.Base{Kind: "image", Source: "lxd", Fingerprint: fp}}, "is not the base's fingerprint"},
		{"oci base without its algorithm", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Base: &image.Base{Kind: "oci", Source: "r", Fingerprint: fp}, BaseFingerprint: fp}, "is not sha256:"},
		{"base of no known kind", image.ImageJSON{Fingerprint: fp, Type: "split", Architecture: "x86_64", Files: files, Base: &image.Base{Kind: "docker", Source: "r", Fingerprint: fp}, BaseFingerprint: fp}, "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.j.Marshal()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// sampleDisk is a VM disk record as vmdisk lays a disk out.
var sampleDisk = image.Disk{
	Format: image.DiskFormatQcow2, Size: 4 << 30, Filesystem: "ext4", SecureBoot: true,
	DiskGUID: "3b8c9f57-6a0e-4d4b-9c71-0f3e2a5d8e11", ESPPartUUID: "a1c3e5f7-0b2d-4f68-8a9c-1e3f5a7c9b0d",
	RootPartUUID: "5d7f9b1c-3e5a-4c7e-9f1b-3d5f7a9c1e3b", ESPSerial: "1A2B-3C4D", RootUUID: "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0",
}

// TestImageJSONVM writes image.json for a split VM image and compares it
// with testdata: type virtual-machine, the qcow2's role disk, the disk
// record; it reads back equal and says it is for a virtual machine.
func TestImageJSONVM(t *testing.T) {
	dir := t.TempDir()
	writeRandom(t, dir, "lxd.tar.xz", 4096, 7)
	writeRandom(t, dir, "disk.qcow2", 100000, 9)
	fp, files, err := image.HashFiles(dir,
		image.FileInfo{Name: "lxd.tar.xz", Role: image.RoleMetadata},
		image.FileInfo{Name: "disk.qcow2", Role: image.RoleDisk})
	if err != nil {
		t.Fatal(err)
	}
	disk := sampleDisk
	j := image.ImageJSON{
		Name: "debian-vm", Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64",
		Properties: map[string]string{"os": "debian"}, Files: files, Disk: &disk, Packages: []image.Package{},
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	golden(t, "debian-vm.image.json", []byte(readFile(t, filepath.Join(dir, "image.json"))))
	back, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, j) {
		t.Errorf("image.json read back as\n%+v\nwant\n%+v", back, j)
	}
	if back.InstanceType() != image.InstanceVM || back.Unified() {
		t.Errorf("a split VM image is for %q, unified %v", back.InstanceType(), back.Unified())
	}
	// The fingerprint is LXD's: the metadata file's bytes, then the
	// disk's.
	if want := shaOfFiles(t, filepath.Join(dir, "lxd.tar.xz"), filepath.Join(dir, "disk.qcow2")); fp != want {
		t.Errorf("fingerprint %s, sha256(meta‖qcow2) is %s", fp, want)
	}
}

func shaOfFiles(t *testing.T, paths ...string) string {
	t.Helper()
	var all []byte
	for _, p := range paths {
		all = append(all, []byte(readFile(t, p))...)
	}
	sum := sha256.Sum256(all)
	return hex.EncodeToString(sum[:])
}

func TestSHA256SUMS(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	got, err := image.SHA256SUMS([]image.FileInfo{{Name: "rootfs.squashfs", SHA256: b}, {Name: "lxd.tar.xz", SHA256: a}})
	if err != nil {
		t.Fatal(err)
	}
	if want := a + "  lxd.tar.xz\n" + b + "  rootfs.squashfs\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []image.FileInfo{
		{Name: "a\nb", SHA256: a},
		{Name: `a\b`, SHA256: a},
		{Name: "sub/a", SHA256: a},
		{Name: "a", SHA256: "xyz"},
	} {
		if _, err := image.SHA256SUMS([]image.FileInfo{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := image.SHA256SUMS([]image.FileInfo{{Name: "a", SHA256: a}, {Name: "a", SHA256: b}}); err == nil {
		t.Error("a name listed twice was accepted")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := image.WriteFileAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteFileAtomic(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "two" || info.Mode().Perm() != 0o644 {
		t.Errorf("content %q mode %v", got, info.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// Replacing a directory fails, and leaves nothing behind.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteFileAtomic(sub, []byte("x"), 0o644); err == nil {
		t.Error("replaced a non-empty directory")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
	if err := image.WriteFileAtomic(filepath.Join(dir, "missing", "f"), nil, 0o644); err == nil {
		t.Error("wrote into a missing directory")
	}
}
