package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/internal/testenv"
)

// vmRecipe has a container and a VM output of one rootfs, with the same
// compression, so the two images share their metadata tarball.
const vmRecipe = `image {
  distribution = "tinyvm"
  release      = "1"
  architecture = "amd64"
}
bootstrap "directory" {
  source = "."
}
# Never run (pack takes a finished tree): what the recipe check wants of
# a bootable image.
packages {
  enabled = build.type == "vm"
  install = ["linux-image-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
template "/etc/hostname" {
  content = "{{ container.name }}\n"
  when    = ["create"]
}
output "ct" {
  type        = "split"
  compression = "gzip"
  rootfs      = "tar"
}
output "vm" {
  type        = "vm"
  compression = "gzip"
  size        = "512MiB"
}
`

// packContainerAndVM packs a tiny rootfs (fake kernel, initrd, shim and
// grub: a disk that is built and imported, never booted) as both outputs
// of vmRecipe into dir/ct and dir/vm.
func packContainerAndVM(t *testing.T, dir string) (ct, vm string) {
	t.Helper()
	requireRoot(t)
	for tool, pkg := range map[string]string{"mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "sgdisk": "gdisk", "sfdisk": "fdisk",
		"mkfs.vfat": "dosfstools", "mcopy": "mtools", "qemu-img": "qemu-utils"} {
		testenv.Command(t, tool, pkg)
	}
	rootfs := filepath.Join(dir, "rootfs")
	for name, content := range map[string]string{
		"boot/vmlinuz-6.1.0-9-amd64": "fake kernel", "boot/initrd.img-6.1.0-9-amd64": "fake initrd",
		"usr/lib/shim/shimx64.efi.signed": "fake shim", "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed": "fake grub",
		"etc/hostname": "tinyvm\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(rootfs, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(rootfs, name), content)
	}
	for link, target := range map[string]string{"vmlinuz": "boot/vmlinuz-6.1.0-9-amd64", "initrd.img": "boot/initrd.img-6.1.0-9-amd64"} {
		if err := os.Symlink(target, filepath.Join(rootfs, link)); err != nil {
			t.Fatal(err)
		}
	}
	recipePath := filepath.Join(dir, "tinyvm.hcl")
	writeFile(t, recipePath, vmRecipe)
	out := filepath.Join(dir, "out")
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", time.Now().Unix())}
	for _, name := range []string{"ct", "vm"} {
		runBuilder(t, env, "pack", rootfs, "--recipe", recipePath, "--only", name, "-o", out)
	}
	return filepath.Join(out, "ct"), filepath.Join(out, "vm")
}

func sha256Files(t *testing.T, paths ...string) string {
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

// TestPublishServeVM publishes the container and the VM image of one
// recipe into a tree: one version, the qcow2 as disk-kvm.img, the
// metadata item carrying combined_disk-kvm-img_sha256 = sha256(meta‖
// qcow2) = image.json's fingerprint. Served by builder serve and added
// to LXD as a simplestreams remote, the VM image lists with type
// VIRTUAL-MACHINE, and copying it checks every hash on the way.
func TestPublishServeVM(t *testing.T) {
	tmp := t.TempDir()
	ct, vm := packContainerAndVM(t, tmp)
	cj, vj := readImageJSON(t, ct), readImageJSON(t, vm)
	if vj.Type != "virtual-machine" || len(vj.Files) != 2 || vj.Files[1].Name != "disk.qcow2" || vj.Files[1].Role != "disk" {
		t.Fatalf("the vm output's image.json: %+v", vj)
	}
	if cj.Files[0].SHA256 != vj.Files[0].SHA256 {
		t.Fatalf("the two outputs' metadata tarballs differ: %s and %s", cj.Files[0].SHA256, vj.Files[0].SHA256)
	}
	tree := filepath.Join(tmp, "tree")
	out := runBuilder(t, nil, "publish", tree, ct, vm)
	if strings.Count(out, "published tinyvm:1:default:x86_64:") != 2 {
		t.Fatalf("publish said:\n%s", out)
	}

	var products struct {
		Products map[string]struct {
			Versions map[string]struct {
				Items map[string]map[string]any `json:"items"`
			} `json:"versions"`
		} `json:"products"`
	}
	raw, err := os.ReadFile(filepath.Join(tree, "streams", "v1", "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &products); err != nil {
		t.Fatal(err)
	}
	versions := products.Products["tinyvm:1:default:x86_64"].Versions
	if len(versions) != 1 {
		t.Fatalf("versions %v, want the two images in one", versions)
	}
	for _, v := range versions {
		meta, disk := v.Items["lxd.tar.xz"], v.Items["disk-kvm.img"]
		if disk == nil || disk["ftype"] != "disk-kvm.img" || meta == nil {
			t.Fatalf("items %v", v.Items)
		}
		combined := sha256Files(t, filepath.Join(tree, meta["path"].(string)), filepath.Join(tree, disk["path"].(string)))
		if combined != vj.Fingerprint || meta["combined_disk-kvm-img_sha256"] != vj.Fingerprint || meta["combined_rootxz_sha256"] != cj.Fingerprint {
			t.Errorf("sha256(meta‖qcow2) %s, image.json %s, the metadata item %v", combined, vj.Fingerprint, meta)
		}
	}
	if imgs := treeList(t, nil, tree, "type=virtual-machine"); len(imgs) != 1 || imgs[0].Fingerprint != vj.Fingerprint {
		t.Errorf("tree list type=virtual-machine: %+v", imgs)
	}
	if out := runBuilder(t, nil, "tree", "verify", tree); !strings.Contains(out, "2 images verified") {
		t.Errorf("verify:\n%s", out)
	}

	daemons := testenv.Daemons(t)
	_, cert, key := testCA(t, tmp)
	base := startServe(t, tree, cert, key)
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) { copyVMFromServe(t, d, base, cert, cj.Fingerprint, vj.Fingerprint) })
	}
}

// copyVMFromServe adds builder serve as a simplestreams remote of d,
// lists the VM and container images there and copies the VM image.
func copyVMFromServe(t *testing.T, d testenv.Daemon, base, cert, containerFP, vmFP string) {
	conf := filepath.Join(t.TempDir(), d.CLI+"-conf")
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{confVar(d) + "=" + conf}
	suffix := uniqueSuffix()
	remote := "btvm" + suffix
	cliWith(t, d, env, "remote", "add", remote, base, "--protocol", "simplestreams")
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(conf, "servercerts", remote+".crt"), string(pem))
	t.Cleanup(func() {
		sum := sha256.Sum256([]byte(base))
		_ = os.RemoveAll(filepath.Join("/var/cache", d.Name, hex.EncodeToString(sum[:])))
	})

	listed := cliWith(t, d, env, "image", "list", remote+":", "type=virtual-machine", "--format", "csv", "--columns", "Ft")
	if strings.TrimSpace(listed) != vmFP+",VIRTUAL-MACHINE" {
		t.Errorf("%s image list %s: type=virtual-machine:\n%s", d.CLI, remote, listed)
	}
	if all := cliWith(t, d, env, "image", "list", remote+":", "--format", "csv", "--columns", "Ft"); !strings.Contains(all, containerFP+",CONTAINER") {
		t.Errorf("%s image list %s: lacks the container image:\n%s", d.CLI, remote, all)
	}
	// The daemon downloads both files, checks each sha256 and the
	// combined one, and converts the qcow2.
	alias := "builder-serve-vm-" + suffix
	cliWith(t, d, env, "image", "copy", remote+":tinyvm/1/default", "local:", "--vm", "--alias", alias)
	cliLater(t, d, "image", "delete", alias)
	if info := cli(t, d, "image", "info", alias); !strings.Contains(info, "Fingerprint: "+vmFP) || !strings.Contains(info, "Type: virtual-machine") {
		t.Errorf("copied the VM image:\n%s", info)
	}
}

// TestImportVMCommand imports the VM output with builder import: the
// daemon stores a virtual-machine image under image.json's fingerprint.
// The container output under the same alias first: the VM image is then
// refused that alias (an alias names one image whatever its type),
// before anything is sent.
func TestImportVMCommand(t *testing.T) {
	tmp := t.TempDir()
	ct, vm := packContainerAndVM(t, tmp)
	for _, d := range testenv.Daemons(t) {
		t.Run(d.Name, func(t *testing.T) { testImportVMCommand(t, d, ct, vm) })
	}
}

func testImportVMCommand(t *testing.T, d testenv.Daemon, ct, vm string) {
	cj, vj := readImageJSON(t, ct), readImageJSON(t, vm)
	alias := "builder-vm-" + uniqueSuffix()
	imp := func(args ...string) lxd.ImportResult {
		t.Helper()
		return importJSON(t, append(args, d.Args()...)...)
	}
	res := imp(ct, "--alias", alias)
	deleteImageLaterOn(t, d, cj.Fingerprint)
	if res.Fingerprint != cj.Fingerprint {
		t.Fatalf("container import: %+v", res)
	}
	_, stderr, status := builderExec(t, nil, append([]string{"import", vm, "--alias", alias, "--replace"}, d.Args()...)...)
	if status != 1 || !strings.Contains(stderr, "names the container image") || !strings.Contains(stderr, "--alias "+alias+"-vm") {
		t.Errorf("the VM image under the container's alias: exit %d\n%s", status, stderr)
	}
	if err := exec.Command(d.CLI, "image", "info", vj.Fingerprint).Run(); err == nil {
		deleteImageLaterOn(t, d, vj.Fingerprint)
		t.Error("the refused VM image was uploaded")
	}

	res = imp(vm, "--alias", alias+"-vm")
	deleteImageLaterOn(t, d, vj.Fingerprint)
	if res.Fingerprint != vj.Fingerprint || !res.Uploaded {
		t.Fatalf("VM import: %+v", res)
	}
	if info := cli(t, d, "image", "info", alias+"-vm"); !strings.Contains(info, "Fingerprint: "+vj.Fingerprint) || !strings.Contains(info, "Type: virtual-machine") {
		t.Errorf("the imported VM image:\n%s", info)
	}
	if info := cli(t, d, "image", "info", alias); !strings.Contains(info, "Fingerprint: "+cj.Fingerprint) {
		t.Errorf("the container's alias moved:\n%s", info)
	}
}
