package sbom_test

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sbom"
	"github.com/builder-images/builder/internal/sbomtest"
)

func TestDiffPackages(t *testing.T) {
	a := []image.Package{
		{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "amd64"},
		{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "i386"},
		{Name: "gone", Version: "1.0", Architecture: "all"},
		{Name: "older", Version: "1:2.0", Architecture: "amd64"},
		{Name: "same", Version: "1.0", Architecture: "all"},
		{Name: "zeros", Version: "1.0", Architecture: "all"},
	}
	b := []image.Package{
		{Name: "libc6", Version: "2.36-9+deb12u10", Architecture: "amd64"},
		{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "i386"},
		{Name: "new", Version: "0.1~rc1", Architecture: "amd64"},
		{Name: "older", Version: "9.0", Architecture: "amd64"},
		{Name: "same", Version: "1.0", Architecture: "all"},
		{Name: "zeros", Version: "1.00", Architecture: "all"},
	}
	want := []sbom.Change{
		{Kind: sbom.PackageRemoved, Name: "gone", Architecture: "all", From: "1.0"},
		{Kind: sbom.PackageUpgraded, Name: "libc6", Architecture: "amd64", From: "2.36-9+deb12u7", To: "2.36-9+deb12u10"},
		{Kind: sbom.PackageAdded, Name: "new", Architecture: "amd64", To: "0.1~rc1"},
		{Kind: sbom.PackageDowngraded, Name: "older", Architecture: "amd64", From: "1:2.0", To: "9.0"},
	}
	if got := sbom.DiffPackages(a, b); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if got := sbom.DiffPackages(a, a); len(got) != 0 {
		t.Errorf("an image against itself: %+v", got)
	}
}

// diffImages are two images: B upgrades foo (new /usr/bin/foo, new
// dpkg records) and baz (listed as /bin/baz, under merged /usr), adds
// bar:amd64 (Multi-Arch: same, so its list is bar:amd64.list), and
// changes /etc/build-time, which no package owns.
func diffImages(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"usr/":                           "",
		"usr/bin/":                       "",
		"etc/":                           "",
		"etc/hostname":                   "localhost\n",
		"var/lib/dpkg/info/foo.list":     "/.\n/usr\n/usr/bin\n/usr/bin/foo\n",
		"var/lib/dpkg/info/foo.md5sums":  "aaa  usr/bin/foo\n",
		"var/lib/dpkg/info/foo.postinst": "#!/bin/sh\n",
		// Merged /usr: baz's list says /bin/baz, the tree holds
		// /usr/bin/baz.
		"bin@":                       "usr/bin",
		"var/lib/dpkg/info/baz.list": "/bin/baz\n",
	}
	a := map[string]string{"usr/bin/foo": "foo 1.0", "usr/bin/baz": "baz 1", "etc/build-time": "1", "var/lib/dpkg/status": "a"}
	b := map[string]string{"usr/bin/foo": "foo 1.1", "usr/bin/baz": "baz 2", "etc/build-time": "2", "var/lib/dpkg/status": "b",
		"var/lib/dpkg/info/foo.md5sums": "bbb  usr/bin/foo\n", "usr/bin/bar": "bar",
		"var/lib/dpkg/info/bar:amd64.list": "/.\n/usr\n/usr/bin\n/usr/bin/bar\n"}
	for k, v := range base {
		for _, m := range []map[string]string{a, b} {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
	sbomtest.WriteImage(t, filepath.Join(dir, "a"), []image.Package{{Name: "baz", Version: "1", Architecture: "all"}, {Name: "foo", Version: "1.0", Architecture: "amd64"}}, a)
	sbomtest.WriteImage(t, filepath.Join(dir, "b"), []image.Package{{Name: "bar", Version: "2.0", Architecture: "amd64"}, {Name: "baz", Version: "2", Architecture: "all"}, {Name: "foo", Version: "1.1", Architecture: "amd64"}}, b)
	return filepath.Join(dir, "a"), filepath.Join(dir, "b")
}

// TestDiffImages tells the paths the package changes account for from
// the one beyond them.
func TestDiffImages(t *testing.T) {
	a, b := diffImages(t)
	d, err := sbom.DiffImages(context.Background(), a, b, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Same() || len(d.Packages) != 3 || d.Rootfs == nil {
		t.Fatalf("%+v", d)
	}
	var beyond []string
	for _, e := range d.Rootfs.Beyond {
		beyond = append(beyond, e.Path+" "+e.Kind+" "+strings.Join(e.What, ","))
	}
	// Added: /usr/bin/bar, bar:amd64.list; changed: /usr/bin/foo,
	// /usr/bin/baz, foo.md5sums, the status; beyond them:
	// /etc/build-time.
	if want := []string{"/etc/build-time changed content"}; !reflect.DeepEqual(beyond, want) || d.Rootfs.Differing != 7 || d.Rootfs.Accounted != 6 {
		t.Errorf("beyond %v (want %v), %d differing, %d accounted", beyond, want, d.Rootfs.Differing, d.Rootfs.Accounted)
	}
	var out bytes.Buffer
	if err := d.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"packages: 1 added, 0 removed, 2 upgraded, 0 downgraded\n",
		"  added      bar (amd64) 2.0\n",
		"  upgraded   foo (amd64) 1.0 → 1.1\n",
		"rootfs: 7 paths differ, 6 accounted for by the package changes; beyond them:\nchanged /etc/build-time: content\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
		}
	}

	same, err := sbom.DiffImages(context.Background(), a, a, true)
	if err != nil || !same.Same() || same.Rootfs != nil || len(same.Packages) != 0 {
		t.Errorf("an image against itself: %+v %v", same, err)
	}
	quick, err := sbom.DiffImages(context.Background(), a, b, false)
	if err != nil || quick.Rootfs != nil || quick.RootfsNote != sbom.NotePackagesOnly || len(quick.Packages) != 3 {
		t.Errorf("packages only: %+v %v", quick, err)
	}
}

// TestDiffImagesVM compares a VM image's packages and says why its
// root filesystem was not: it is inside the qcow2.
func TestDiffImagesVM(t *testing.T) {
	a, _ := diffImages(t)
	vm := t.TempDir()
	j, err := image.ReadImageJSON(a)
	if err != nil {
		t.Fatal(err)
	}
	guid := "0fc63daf-8483-4772-8e79-3d69d8477de4"
	j.Type, j.Fingerprint = image.TypeVM, strings.Repeat("0", 64)
	j.Files[1] = image.FileInfo{Name: "disk.qcow2", Role: image.RoleDisk, SHA256: strings.Repeat("1", 64), Size: 1}
	j.Disk = &image.Disk{Format: image.DiskFormatQcow2, Size: 1 << 30, Filesystem: "ext4", DiskGUID: guid, ESPPartUUID: guid, RootPartUUID: guid, ESPSerial: "ABCD-0123", RootUUID: guid}
	j.Packages = nil
	if err := image.WriteImageJSON(vm, j); err != nil {
		t.Fatal(err)
	}
	d, err := sbom.DiffImages(context.Background(), a, vm, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Rootfs != nil || !strings.HasPrefix(d.RootfsNote, "not compared: ") || !strings.Contains(d.RootfsNote, "qcow2") || len(d.Packages) != 2 || d.Packages[0].Kind != sbom.PackageRemoved {
		t.Errorf("%+v", d)
	}
}
