package output

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/sbom"
	"github.com/builder-images/builder/internal/testenv"
)

// needVMDisk skips or fails a test on a host that cannot build a VM
// disk (see vmdisk's own tests).
func needVMDisk(t *testing.T) {
	t.Helper()
	testenv.Root(t)
	for tool, pkg := range map[string]string{
		"mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "sgdisk": "gdisk", "sfdisk": "fdisk",
		"mkfs.vfat": "dosfstools", "mmd": "mtools", "mcopy": "mtools", "qemu-img": "qemu-utils",
	} {
		testenv.Command(t, tool, pkg)
	}
}

// tinyVMTree is a rootfs with what vmdisk boots (fake kernel, initrd,
// shim and grub: the disk is built, never booted, here) and a file.
func tinyVMTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	files := map[string]string{
		"boot/vmlinuz-6.1.0-9-amd64":                        "fake kernel",
		"boot/initrd.img-6.1.0-9-amd64":                     "fake initrd",
		"usr/lib/shim/shimx64.efi.signed":                   "fake shim",
		"usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed": "fake grub",
		"etc/hostname":                                      "tiny\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"vmlinuz": "boot/vmlinuz-6.1.0-9-amd64", "initrd.img": "boot/initrd.img-6.1.0-9-amd64"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// vmPlan loads a recipe with one vm output of 512 MiB, gzip metadata.
func vmPlan(t *testing.T, serial string) *recipe.Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.hcl")
	src := fmt.Sprintf(`image {
  distribution = "tiny"
  release      = "1"
  architecture = "amd64"
  serial       = %q
}
bootstrap "directory" {
  source = "."
}
# Never run (pack takes a finished tree): what the recipe check wants of
# a bootable image.
packages {
  install = ["linux-image-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
template "/etc/hostname" {
  content = "{{ container.name }}\n"
  when    = ["create"]
}
output "disk" {
  type        = "vm"
  size        = "512MiB"
  compression = "gzip"
}
`, serial)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if plan.Output.Type != recipe.OutputVM {
		t.Fatalf("the plan's output is %+v", plan.Output)
	}
	return plan
}

func packVM(t *testing.T, plan *recipe.Plan, rootfs, out string, unified bool) image.ImageJSON {
	t.Helper()
	epoch := time.Unix(1767225600, 0).UTC()
	p := *plan
	p.Output.VM.Unified = unified
	j, err := Pack(context.Background(), PackOptions{Plan: &p, Rootfs: rootfs, Output: out, Created: epoch, Epoch: &epoch, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func sumOf(t *testing.T, paths ...string) string {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(h, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The vm kind writes lxd.tar.gz and disk.qcow2 (a qcow2 of the size
// asked), image.json says virtual-machine with the disk's role disk and
// its layout, the fingerprint is sha256(metadata‖qcow2), the scratch
// space is gone, and the same image packed again gives the same bytes.
// The unified form holds the same disk as rootfs.img.
func TestPackVM(t *testing.T) {
	needVMDisk(t)
	rootfs := tinyVMTree(t)
	plan := vmPlan(t, "20260101_0000")
	parent := t.TempDir()
	out := filepath.Join(parent, "vm")
	j := packVM(t, plan, rootfs, out, false)

	back, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Type != image.TypeVM || back.InstanceType() != image.InstanceVM || len(back.Files) != 2 ||
		back.Files[0].Name != "lxd.tar.gz" || back.Files[0].Role != image.RoleMetadata ||
		back.Files[1].Name != "disk.qcow2" || back.Files[1].Role != image.RoleDisk {
		t.Fatalf("image.json %+v", back)
	}
	d := back.Disk
	if d == nil || d.Format != "qcow2" || d.Size != 512<<20 || d.Filesystem != "ext4" || !d.SecureBoot || d.RootUUID == d.DiskGUID {
		t.Fatalf("disk record %+v", d)
	}
	if want := sumOf(t, filepath.Join(out, "lxd.tar.gz"), filepath.Join(out, "disk.qcow2")); j.Fingerprint != want {
		t.Errorf("fingerprint %s, sha256(meta‖qcow2) is %s", j.Fingerprint, want)
	}
	info, err := exec.Command("qemu-img", "info", "--output", "json", filepath.Join(out, "disk.qcow2")).Output()
	if err != nil {
		t.Fatal(err)
	}
	var qi struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &qi); err != nil || qi.Format != "qcow2" || qi.VirtualSize != 512<<20 {
		t.Errorf("qemu-img info: %s (%v)", info, err)
	}
	if names := dirNames(t, parent); !slices.Equal(names, []string{"vm"}) {
		t.Errorf("beside the output: %v (scratch space left?)", names)
	}

	// Reproducible: the same image again, same bytes, same identities.
	again := packVM(t, plan, rootfs, filepath.Join(parent, "again"), false)
	if again.Fingerprint != j.Fingerprint || *again.Disk != *j.Disk {
		t.Errorf("packed again: %s %+v, first %s %+v", again.Fingerprint, again.Disk, j.Fingerprint, j.Disk)
	}
	// Another output of the recipe gets its own identities.
	other := *plan
	other.Output.Name = "other"
	o := packVM(t, &other, rootfs, filepath.Join(parent, "other"), false)
	if o.Disk.RootUUID == j.Disk.RootUUID || o.Disk.DiskGUID == j.Disk.DiskGUID {
		t.Errorf("two outputs share identities: %+v and %+v", o.Disk, j.Disk)
	}

	// Unified: metadata.yaml first, the templates, the disk as
	// rootfs.img, the same bytes as the split form's disk.
	uout := filepath.Join(parent, "unified")
	u := packVM(t, plan, rootfs, uout, true)
	if u.Type != image.TypeVM || len(u.Files) != 1 || u.Files[0].Name != "tiny-1-amd64-default.tar.gz" || u.Files[0].Role != image.RoleUnified || u.Fingerprint != u.Files[0].SHA256 || *u.Disk != *j.Disk {
		t.Fatalf("unified image.json %+v", u)
	}
	entries, diskSum := tarEntries(t, filepath.Join(uout, u.Files[0].Name), "rootfs.img")
	if !slices.Equal(entries, []string{"metadata.yaml", "templates/", "templates/hostname.tpl", "rootfs.img"}) {
		t.Errorf("unified entries %v", entries)
	}
	if diskSum != j.Files[1].SHA256 {
		t.Errorf("rootfs.img has sha256 %s, the split disk %s", diskSum, j.Files[1].SHA256)
	}
}

// A disk the cache kept is copied with its record instead of built (the
// rootfs may then be empty); one kept without its record is
// ErrReusedChanged, for the build to pack instead.
func TestPackVMReuse(t *testing.T) {
	needVMDisk(t)
	plan := vmPlan(t, "20260101_0000")
	parent := t.TempDir()
	tree := tinyVMTree(t)
	first := packVM(t, plan, tree, filepath.Join(parent, "first"), false)
	facts, err := sbom.ReadFacts(tree, first.Packages)
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(parent, "first", "disk.qcow2")
	reuse := &ReusedRootfs{Path: kept, Open: func() (*os.File, error) { return os.Open(kept) }, Info: first.Files[1], Disk: first.Disk, Facts: &facts}
	empty := t.TempDir()
	epoch := time.Unix(1767225600, 0).UTC()
	var log testenv.SyncBuffer
	j, err := Pack(context.Background(), PackOptions{Plan: plan, Rootfs: empty, Output: filepath.Join(parent, "second"), Created: epoch, Epoch: &epoch, Threads: 1, Reuse: reuse, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if *j.SBOM != *first.SBOM {
		t.Errorf("the reused disk's SBOM %+v, the first's %+v", j.SBOM, first.SBOM)
	}
	if j.Fingerprint != first.Fingerprint || *j.Disk != *first.Disk || !strings.Contains(log.String(), "reusing disk.qcow2") || strings.Contains(log.String(), "vmdisk") {
		t.Errorf("reused: %s %+v, first %s %+v\n%s", j.Fingerprint, j.Disk, first.Fingerprint, first.Disk, log.String())
	}
	reuse.Facts = nil
	_, err = Pack(context.Background(), PackOptions{Plan: plan, Rootfs: empty, Output: filepath.Join(parent, "nofacts"), Created: epoch, Epoch: &epoch, Threads: 1, Reuse: reuse})
	if !errors.Is(err, ErrReusedChanged) {
		t.Errorf("a kept disk without the SBOM's facts: %v", err)
	}
	reuse.Facts, reuse.Disk = &facts, nil
	_, err = Pack(context.Background(), PackOptions{Plan: plan, Rootfs: empty, Output: filepath.Join(parent, "third"), Created: epoch, Epoch: &epoch, Threads: 1, Reuse: reuse})
	if !errors.Is(err, ErrReusedChanged) {
		t.Errorf("a kept disk without its record: %v", err)
	}
	if !Reuses(plan.Output) {
		t.Error("the vm type does not say it reuses")
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tarEntries lists a gzip tarball's entries and the sha256 of one.
func tarEntries(t *testing.T, path, sumOf string) ([]string, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	sum := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == sumOf {
			hs := sha256.New()
			if _, err := io.Copy(hs, tr); err != nil {
				t.Fatal(err)
			}
			sum = hex.EncodeToString(hs.Sum(nil))
		}
	}
	return names, sum
}

// Both forms of a VM image built by vmdisk go into the real LXD daemon
// as virtual-machine images, under image.json's fingerprint.
func TestPackVMImportsIntoLXD(t *testing.T) {
	needVMDisk(t)
	s, err := lxd.Finder{LookupEnv: os.LookupEnv}.Find(context.Background(), lxd.LXD)
	testenv.Need(t, err == nil && s.Connectable, "needs a running LXD daemon (ci/start-lxd.sh)")
	c := lxd.NewUnixClient(s)
	rootfs := tinyVMTree(t)
	// A serial of this run: an image no earlier run left in the daemon.
	plan := vmPlan(t, time.Now().UTC().Format("20060102_1504"))
	plan.Image.Properties = map[string]string{"run": fmt.Sprint(time.Now().UnixNano())}
	for _, unified := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "out")
		j := packVM(t, plan, rootfs, out, unified)
		res, err := lxd.Import(context.Background(), c, lxd.ImportOptions{Dir: out, Image: j})
		t.Cleanup(func() { _ = c.DeleteImage(context.Background(), j.Fingerprint) })
		if err != nil {
			t.Fatalf("unified=%v: %v", unified, err)
		}
		img, err := c.Image(context.Background(), res.Fingerprint)
		if err != nil || img.Type != image.InstanceVM || img.Fingerprint != j.Fingerprint {
			t.Errorf("unified=%v: the daemon holds %+v (%v), image.json says %s", unified, img, err, j.Fingerprint)
		}
	}
}
