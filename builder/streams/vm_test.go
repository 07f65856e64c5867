package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// fakeVM writes a split VM image's output directory: a gzip metadata
// tarball whose bytes come from metaSeed (the same seed as a fakeImage
// gives the same metadata file) and a qcow2 disk (its magic, then bytes
// from diskSeed). With unified, one tarball instead.
func fakeVM(t *testing.T, release, serial string, metaSeed, diskSeed uint64, expires time.Time, unified bool) string {
	t.Helper()
	dir := t.TempDir()
	var files []image.FileInfo
	if unified {
		f := writeFakeGz(t, dir, "vm.tar.gz", rand.New(rand.NewPCG(metaSeed, 1)))
		f.Role = image.RoleUnified
		files = []image.FileInfo{f}
	} else {
		m := writeFakeGz(t, dir, "lxd.tar.gz", rand.New(rand.NewPCG(metaSeed, 1)))
		m.Role = image.RoleMetadata
		disk := append([]byte{'Q', 'F', 'I', 0xfb, 0, 0, 0, 3}, make([]byte, 3000)...)
		disk[100] = byte(diskSeed)
		writeFile(t, filepath.Join(dir, "disk.qcow2"), disk)
		files = []image.FileInfo{m, {Name: "disk.qcow2", Role: image.RoleDisk}}
	}
	fp, infos, err := image.HashFiles(dir, files...)
	if err != nil {
		t.Fatal(err)
	}
	j := image.ImageJSON{
		Name: "test-" + release, Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64",
		Properties: map[string]string{"os": "busybox", "release": release, "variant": "default", "architecture": "amd64", "serial": serial, "description": "test " + release},
		Created:    time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Expires: expires, Files: infos,
		Disk: &image.Disk{Format: image.DiskFormatQcow2, Size: 4 << 30, Filesystem: "ext4", SecureBoot: true,
			DiskGUID: "3b8c9f57-6a0e-4d4b-9c71-0f3e2a5d8e11", ESPPartUUID: "a1c3e5f7-0b2d-4f68-8a9c-1e3f5a7c9b0d",
			RootPartUUID: "5d7f9b1c-3e5a-4c7e-9f1b-3d5f7a9c1e3b", ESPSerial: "1A2B-3C4D", RootUUID: "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"},
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readImage(t *testing.T, dir string) image.ImageJSON {
	t.Helper()
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// sumFiles is sha256 over the files' bytes in order: LXD's fingerprint
// of a split image, computed here without builder's hashers.
func sumFiles(t *testing.T, paths ...string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readProducts reads images.json as a client would.
func readProducts(t *testing.T, dir string) Products {
	t.Helper()
	var p Products
	data, err := os.ReadFile(filepath.Join(dir, ProductsPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// A container and a VM image of one build whose metadata tarballs are
// the same file go into one version, as lxc-ci's trees have them: one
// metadata item pair carrying both combined hashes, the squashfs and the
// qcow2 as disk-kvm.img.
func TestPublishContainerAndVM(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	ct := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	vm := fakeVM(t, "one", "20260102_0304", 1, 5, time.Time{}, false)
	res, err := tr.Publish(ctx, []string{ct, vm}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != "published" || res[1].Status != "published" || res[0].Version != res[1].Version {
		t.Fatalf("results %+v", res)
	}
	cj, vj := readImage(t, ct), readImage(t, vm)
	wantVM := sumFiles(t, filepath.Join(vm, "lxd.tar.gz"), filepath.Join(vm, "disk.qcow2"))
	if vj.Fingerprint != wantVM {
		t.Fatalf("the fake VM's fingerprint %s is not sha256(meta‖qcow2) %s", vj.Fingerprint, wantVM)
	}

	p := readProducts(t, dir)
	if len(p.Products) != 1 {
		t.Fatalf("products %v", p.Products)
	}
	v := p.Products["busybox:one:default:x86_64"].Versions["20260102_0304"]
	for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
		it := v.Items[ft]
		if it == nil || it.CombinedSquashfsSHA256 != cj.Fingerprint || it.CombinedDiskKVMSHA256 != vj.Fingerprint || it.SHA256 != vj.Files[0].SHA256 {
			t.Errorf("%s item %+v", ft, it)
		}
	}
	disk := v.Items[FtypeDiskKVM]
	if disk == nil || disk.Ftype != "disk-kvm.img" || disk.Path != "images/"+vj.Files[1].SHA256+".qcow2" || disk.Size != vj.Files[1].Size {
		t.Errorf("disk-kvm.img item %+v", disk)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ProductsPath))
	if !strings.Contains(string(raw), `"combined_disk-kvm-img_sha256": "`+vj.Fingerprint+`"`) || !strings.Contains(string(raw), `"ftype": "disk-kvm.img"`) {
		t.Errorf("images.json lacks the VM's fields:\n%s", raw)
	}
	if v.Builder == nil || v.Builder.Fingerprint != cj.Fingerprint || v.BuilderVM == nil || v.BuilderVM.Type != image.TypeVM {
		t.Errorf("records %+v %+v", v.Builder, v.BuilderVM)
	}

	// tree list: two images of one version; type filters them.
	imgs, err := tr.Images(ctx)
	if err != nil || len(imgs) != 2 || imgs[0].Type != image.TypeSplit || imgs[1].Type != image.TypeVM || imgs[1].Fingerprint != vj.Fingerprint {
		t.Fatalf("list: %+v %v", imgs, err)
	}
	if !slices.Equal(imgs[1].Aliases, []string{"busybox/one/default"}) || imgs[1].Size != vj.Files[0].Size+vj.Files[1].Size {
		t.Errorf("the VM image lists as %+v", imgs[1])
	}
	if vms, _ := tr.Images(ctx, "type=virtual-machine"); len(vms) != 1 || vms[0].Fingerprint != vj.Fingerprint {
		t.Errorf("type=virtual-machine: %+v", vms)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}

	// Again: nothing changes.
	res, err = tr.Publish(ctx, []string{vm, ct}, false)
	if err != nil || res[0].Status != "unchanged" || res[1].Status != "unchanged" {
		t.Fatalf("republish: %+v %v", res, err)
	}

	// Another disk under the version: refused, then replaced; the
	// container image stays, the old qcow2 goes.
	other := fakeVM(t, "one", "20260102_0304", 1, 6, time.Time{}, false)
	if _, err := tr.Publish(ctx, []string{other}, false); err == nil || !strings.Contains(err.Error(), "already has a virtual-machine image") {
		t.Fatalf("another VM image under the version: %v", err)
	}
	if res, err := tr.Publish(ctx, []string{other}, true); err != nil || res[0].Status != "replaced" {
		t.Fatalf("replace: %+v %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, disk.Path)); !os.IsNotExist(err) {
		t.Errorf("the replaced disk is still there: %v", err)
	}
	oj := readImage(t, other)
	imgs, _ = tr.Images(ctx)
	if len(imgs) != 2 || imgs[0].Fingerprint != cj.Fingerprint || imgs[1].Fingerprint != oj.Fingerprint {
		t.Fatalf("after replacing the VM image: %+v", imgs)
	}

	// Removing the VM image by fingerprint leaves the container image
	// and the shared metadata file, without the VM's combined hash.
	if err := tr.Remove(ctx, oj.Fingerprint[:12]); err != nil {
		t.Fatal(err)
	}
	v = readProducts(t, dir).Products["busybox:one:default:x86_64"].Versions["20260102_0304"]
	if v.Items[FtypeDiskKVM] != nil || v.Items[FtypeLXDMeta].CombinedDiskKVMSHA256 != "" || v.Items[FtypeLXDMeta].CombinedSquashfsSHA256 != cj.Fingerprint || v.BuilderVM != nil {
		t.Errorf("after removing the VM image: %+v", v)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", oj.Files[1].SHA256+".qcow2")); !os.IsNotExist(err) {
		t.Errorf("the removed disk is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", cj.Files[0].SHA256+".tar.gz")); err != nil {
		t.Errorf("the container's metadata file went: %v", err)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
}

// A VM image published alone first is joined by its container image
// later; a VM image whose metadata tarball differs from the container's
// of its version is refused, naming why, and changes nothing.
func TestPublishVMMetadataMismatch(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	vm := fakeVM(t, "one", "20260102_0304", 1, 5, time.Time{}, false)
	if _, err := tr.Publish(ctx, []string{vm}, false); err != nil {
		t.Fatal(err)
	}
	ct := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	if _, err := tr.Publish(ctx, []string{ct}, false); err != nil {
		t.Fatal(err)
	}
	if imgs, _ := tr.Images(ctx); len(imgs) != 2 || imgs[0].Version != imgs[1].Version {
		t.Fatalf("the container image did not join the VM's version: %+v", imgs)
	}

	before, _ := os.ReadFile(filepath.Join(dir, ProductsPath))
	ct2 := fakeImage(t, image.TypeSplit, "one", "20260103_0000", 7, time.Time{})
	vm2 := fakeVM(t, "one", "20260103_0000", 8, 5, time.Time{}, false)
	_, err := tr.Publish(ctx, []string{ct2, vm2}, false)
	var mismatch *MetadataMismatchError
	if !errors.As(err, &mismatch) || !strings.Contains(err.Error(), "instance.type") {
		t.Fatalf("a VM image with other metadata: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, ProductsPath)); string(after) != string(before) {
		t.Error("a refused publish changed images.json")
	}
	// A unified container image has no metadata item: a VM image goes
	// beside it whatever its metadata.
	uct := fakeImage(t, image.TypeUnified, "one", "20260104_0000", 9, time.Time{})
	uvm := fakeVM(t, "one", "20260104_0000", 10, 5, time.Time{}, false)
	if _, err := tr.Publish(ctx, []string{uct, uvm}, false); err != nil {
		t.Fatal(err)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
	// A unified VM image is refused: LXD reads unified stream items as
	// containers.
	unified := fakeVM(t, "one", "20260105_0000", 11, 0, time.Time{}, true)
	if _, err := tr.Publish(ctx, []string{unified}, false); err == nil || !strings.Contains(err.Error(), "split form") {
		t.Fatalf("a unified VM image: %v", err)
	}
}

// Prune removes an expired VM image and keeps its version's container
// image; verify finds a wrong disk combined hash.
func TestPruneAndVerifyVM(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	tr.Now = func() time.Time { return now }
	uct := fakeImage(t, image.TypeUnified, "one", "20260101_0000", 1, time.Time{})
	vm := fakeVM(t, "one", "20260101_0000", 2, 5, now.Add(-time.Hour), false)
	if _, err := tr.Publish(ctx, []string{uct, vm}, false); err != nil {
		t.Fatal(err)
	}
	removed, err := tr.Prune(ctx, 0, false)
	if err != nil || !slices.Equal(removed, []string{"busybox:one:default:x86_64:20260101_0000 (virtual-machine)"}) {
		t.Fatalf("prune: %v %v", removed, err)
	}
	if imgs, _ := tr.Images(ctx); len(imgs) != 1 || imgs[0].Type != image.TypeUnified {
		t.Fatalf("after prune: %+v", imgs)
	}

	vm2 := fakeVM(t, "two", "20260101_0000", 3, 6, time.Time{}, false)
	if _, err := tr.Publish(ctx, []string{vm2}, false); err != nil {
		t.Fatal(err)
	}
	p, _ := tr.Read(ctx)
	v := p.Products["busybox:two:default:x86_64"].Versions["20260101_0000"]
	v.Items[FtypeIncusMeta].CombinedDiskKVMSHA256 = strings.Repeat("0", 64)
	raw, _ := marshalJSON(p)
	writeFile(t, filepath.Join(dir, ProductsPath), raw)
	problems, err := tr.Verify(ctx)
	if err != nil || len(problems) != 1 || !strings.Contains(problems[0].String(), "incus.tar.xz item's combined_disk-kvm-img_sha256") {
		t.Fatalf("verify: %v %v", problems, err)
	}
}
