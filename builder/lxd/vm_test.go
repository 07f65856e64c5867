package lxd

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

// A split VM image's disk goes as the part rootfs.img, as the daemons'
// own clients send it: the part name is how the daemon tells a VM image
// from a container's.
func TestUploadPartNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"meta", "data"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := []UploadFile{{Path: filepath.Join(dir, "meta"), Size: 4}, {Path: filepath.Join(dir, "data"), Size: 4}}
	for _, tc := range []struct {
		vm   bool
		want []string
	}{{false, []string{"metadata", "rootfs"}}, {true, []string{"metadata", "rootfs.img"}}} {
		body, contentType := (&Client{}).uploadBody(Upload{Files: files, VM: tc.vm}, 8)
		_, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			t.Fatal(err)
		}
		mr := multipart.NewReader(body, params["boundary"])
		var names []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, part.FormName())
		}
		body.Close()
		if !slices.Equal(names, tc.want) {
			t.Errorf("vm=%v: parts %v, want %v", tc.vm, names, tc.want)
		}
	}
}

// localDaemon is a client of this machine's LXD daemon, or a skip.
func localDaemon(t *testing.T) *Client {
	t.Helper()
	testenv.Root(t)
	s, err := Finder{LookupEnv: os.LookupEnv}.Find(context.Background(), LXD)
	testenv.Need(t, err == nil && s.Connectable, "needs a running LXD daemon (ci/start-lxd.sh)")
	c := NewUnixClient(s)
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// writeTarGz writes a gzip tarball of regular files, in order.
func writeTarGz(t *testing.T, path string, files [][2]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range files {
		data := []byte(e[1])
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(1767225600, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// vmImage writes a VM image into dir, split (metadata tarball and a
// qcow2 disk) or unified (one tarball with rootfs.img), and returns its
// image.json. The disk is an empty qcow2: the daemon checks the format
// with qemu-img info and converts it, and never boots it on import.
func vmImage(t *testing.T, dir string, unified bool) image.ImageJSON {
	t.Helper()
	qemuImg := testenv.Command(t, "qemu-img", "qemu-utils")
	disk := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", disk, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	// A property unique to this run gives the image a fingerprint no
	// earlier run left in the daemon.
	metadata := fmt.Sprintf("architecture: x86_64\ncreation_date: 1767225600\nproperties:\n  os: builder-test\n  run: %q\n", fmt.Sprint(time.Now().UnixNano()))
	rec := image.Disk{Format: image.DiskFormatQcow2, Size: 64 << 20, Filesystem: "ext4",
		DiskGUID: "3b8c9f57-6a0e-4d4b-9c71-0f3e2a5d8e11", ESPPartUUID: "a1c3e5f7-0b2d-4f68-8a9c-1e3f5a7c9b0d",
		RootPartUUID: "5d7f9b1c-3e5a-4c7e-9f1b-3d5f7a9c1e3b", ESPSerial: "1A2B-3C4D", RootUUID: "9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"}
	var files []image.FileInfo
	if unified {
		qcow, err := os.ReadFile(disk)
		if err != nil {
			t.Fatal(err)
		}
		writeTarGz(t, filepath.Join(dir, "vm.tar.gz"), [][2]string{{"metadata.yaml", metadata}, {"rootfs.img", string(qcow)}})
		if err := os.Remove(disk); err != nil {
			t.Fatal(err)
		}
		files = []image.FileInfo{{Name: "vm.tar.gz", Role: image.RoleUnified}}
	} else {
		writeTarGz(t, filepath.Join(dir, "lxd.tar.gz"), [][2]string{{"metadata.yaml", metadata}})
		files = []image.FileInfo{{Name: "lxd.tar.gz", Role: image.RoleMetadata}, {Name: "disk.qcow2", Role: image.RoleDisk}}
	}
	fp, files, err := image.HashFiles(dir, files...)
	if err != nil {
		t.Fatal(err)
	}
	j := image.ImageJSON{Fingerprint: fp, Type: image.TypeVM, Architecture: "x86_64", Files: files, Disk: &rec}
	if err := j.Check(); err != nil {
		t.Fatal(err)
	}
	return j
}

// The real daemon takes a VM image in both forms as a virtual-machine
// image, under the fingerprint image.json computed (sha256 of the
// metadata tarball then the qcow2, or of the unified file).
func TestImportVM(t *testing.T) {
	c := localDaemon(t)
	ctx := context.Background()
	for _, form := range []string{"split", "unified"} {
		t.Run(form, func(t *testing.T) {
			dir := t.TempDir()
			j := vmImage(t, dir, form == "unified")
			alias := fmt.Sprintf("builder-test-vm-%s-%d", form, time.Now().UnixNano()%1_000_000_000)
			res, err := Import(ctx, c, ImportOptions{Dir: dir, Image: j, Aliases: []string{alias}})
			t.Cleanup(func() { _ = c.DeleteImage(context.Background(), j.Fingerprint) })
			if err != nil {
				t.Fatal(err)
			}
			if !res.Uploaded || res.Fingerprint != j.Fingerprint {
				t.Errorf("import: %+v", res)
			}
			img, err := c.Image(ctx, j.Fingerprint)
			if err != nil {
				t.Fatalf("the daemon has no image %s: %v", j.Fingerprint, err)
			}
			if img.Type != image.InstanceVM {
				t.Errorf("the daemon stored a %q image, want virtual-machine", img.Type)
			}
			a, err := c.Alias(ctx, alias)
			if err != nil || a.Target != j.Fingerprint || a.Type != image.InstanceVM {
				t.Errorf("alias %s: %+v %v", alias, a, err)
			}
			// Importing again sends nothing.
			if res, err := Import(ctx, c, ImportOptions{Dir: dir, Image: j, Aliases: []string{alias}}); err != nil || res.Uploaded {
				t.Errorf("second import: %+v %v", res, err)
			}
		})
	}
}

// An alias that names a container image is not moved to a VM image:
// the daemons keep one image per alias whatever its type. Nothing is
// uploaded, and the alias stays.
func TestImportVMAliasOfAContainer(t *testing.T) {
	c := localDaemon(t)
	ctx := context.Background()
	dir := t.TempDir()
	metadata := fmt.Sprintf("architecture: x86_64\ncreation_date: 1767225600\nproperties:\n  run: %q\n", fmt.Sprint(time.Now().UnixNano()))
	writeTarGz(t, filepath.Join(dir, "ct.tar.gz"), [][2]string{{"metadata.yaml", metadata}, {"rootfs/etc/hostname", "ct\n"}})
	fp, files, err := image.HashFiles(dir, image.FileInfo{Name: "ct.tar.gz", Role: image.RoleUnified})
	if err != nil {
		t.Fatal(err)
	}
	alias := fmt.Sprintf("builder-test-shared-%d", time.Now().UnixNano()%1_000_000_000)
	ct := image.ImageJSON{Fingerprint: fp, Type: image.TypeUnified, Architecture: "x86_64", Files: files}
	if _, err := Import(ctx, c, ImportOptions{Dir: dir, Image: ct, Aliases: []string{alias}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteImage(context.Background(), fp) })

	vmDir := t.TempDir()
	vm := vmImage(t, vmDir, false)
	_, err = Import(ctx, c, ImportOptions{Dir: vmDir, Image: vm, Aliases: []string{alias}, Replace: true})
	if err == nil || !strings.Contains(err.Error(), "container image") || !strings.Contains(err.Error(), "--alias "+alias+"-vm") {
		t.Errorf("importing a VM image under a container's alias: %v", err)
	}
	if _, err := c.Image(ctx, vm.Fingerprint); !IsNotFound(err) {
		_ = c.DeleteImage(ctx, vm.Fingerprint)
		t.Errorf("the VM image was uploaded anyway: %v", err)
	}
	if a, err := c.Alias(ctx, alias); err != nil || a.Target != fp {
		t.Errorf("alias %s now %+v %v, want the container image", alias, a, err)
	}
}
