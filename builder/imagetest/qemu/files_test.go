package qemu

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// writeTarball writes a gzip-compressed tarball of entries (name →
// content) at path.
func writeTarball(t *testing.T, path string, entries map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(entries[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(entries[n])); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []interface{ Close() error }{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

const testMetadata = `architecture: x86_64
creation_date: 1700000000
properties:
  os: debian
  variant: cloud
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /var/lib/cloud/seed/nocloud-net/user-data:
    when: [create, copy]
    create_only: true
    template: user-data.tpl
    properties:
      default: "#cloud-config\n{}"
  /etc/motd:
    when: [start]
    template: motd.tpl
    mode: "0600"
    uid: "0"
    gid: "4"
  /etc/renamed:
    when: [rename]
    template: motd.tpl
`

var testTemplates = map[string]string{
	"templates/hostname.tpl":  "{{ container.name }}\n",
	"templates/user-data.tpl": `{{ config_get("user.user-data", properties.default) }}`,
	"templates/motd.tpl":      "{{ instance.type }} {{ config_get(\"image.os\", \"\") }} {{ trigger }}{% if devices.eth0 %} nic{% endif %}\n",
}

// TestRenderFiles renders a split image's templates for a VM with a NIC:
// create and start templates, with the instance's name, config and
// devices; Incus's mode, uid and gid; never rename's.
func TestRenderFiles(t *testing.T) {
	dir := t.TempDir()
	entries := map[string]string{"./metadata.yaml": testMetadata}
	for k, v := range testTemplates {
		entries["./"+k] = v
	}
	writeTarball(t, filepath.Join(dir, "lxd.tar.gz"), entries)
	j := image.ImageJSON{Fingerprint: strings.Repeat("a", 64), Type: image.TypeVM, Files: []image.FileInfo{
		{Name: "lxd.tar.gz", Role: image.RoleMetadata}, {Name: "disk.qcow2", Role: image.RoleDisk},
	}}
	f, err := readImage(context.Background(), dir, j, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if f.disk != filepath.Join(dir, "disk.qcow2") || f.metadata.Properties["variant"] != "cloud" {
		t.Errorf("read %+v", f)
	}
	files, err := f.renderFiles(instanceSpec{name: "builder-test-vm-nic-abcdef", config: map[string]string{"user.user-data": "#cloud-config\nruncmd: []"}, nic: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, file := range files {
		got[file.Path] = string(file.Content)
		switch file.Path {
		case "/etc/motd":
			if file.Mode != 0o600 || file.GID != 4 {
				t.Errorf("/etc/motd: mode %o gid %d, want 0600 and 4", file.Mode, file.GID)
			}
		case "/var/lib/cloud/seed/nocloud-net/user-data":
			if !file.CreateOnly {
				t.Error("user-data lost create_only")
			}
		}
	}
	want := map[string]string{
		"/etc/hostname": "builder-test-vm-nic-abcdef\n",
		"/var/lib/cloud/seed/nocloud-net/user-data": "#cloud-config\nruncmd: []",
		"/etc/motd": "virtual-machine debian start nic\n",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s rendered %q, want %q", p, got[p], w)
		}
	}
	if _, ok := got["/etc/renamed"]; ok || len(got) != len(want) {
		t.Errorf("rendered %v; a rename template does not apply to a new instance", got)
	}
}

// TestReadUnifiedImage takes the disk out of a unified VM image.
func TestReadUnifiedImage(t *testing.T) {
	dir := t.TempDir()
	writeTarball(t, filepath.Join(dir, "vm.tar.gz"), map[string]string{"metadata.yaml": testMetadata, "rootfs.img": "QFI\xfb disk", "templates/hostname.tpl": "x"})
	j := image.ImageJSON{Type: image.TypeVM, Files: []image.FileInfo{{Name: "vm.tar.gz", Role: image.RoleUnified}}}
	scratch := t.TempDir()
	f, err := readImage(context.Background(), dir, j, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.disk); f.disk != filepath.Join(scratch, "disk.qcow2") || string(b) != "QFI\xfb disk" {
		t.Errorf("disk %s holds %q", f.disk, b)
	}
	if _, err := f.renderFiles(instanceSpec{name: "x"}); err == nil || !strings.Contains(err.Error(), "which the image lacks") {
		t.Errorf("a template file missing from the image: %v", err)
	}
	writeTarball(t, filepath.Join(dir, "vm.tar.gz"), map[string]string{"metadata.yaml": testMetadata})
	if _, err := readImage(context.Background(), dir, j, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a VM image") {
		t.Errorf("a unified tarball without a disk: %v", err)
	}
}

func TestParseAddresses(t *testing.T) {
	out := "2: enp5s0    inet 10.0.2.15/24 metric 1024 brd 10.0.2.255 scope global dynamic enp5s0\\       valid_lft 86391sec preferred_lft 86391sec\n" +
		"3: eth1    inet 192.0.2.7/28 scope global eth1\\       valid_lft forever preferred_lft forever\n"
	if got := parseAddresses(out); !slices.Equal(got, []string{"10.0.2.15", "192.0.2.7"}) {
		t.Errorf("parseAddresses: %q", got)
	}
	if got := parseAddresses(""); len(got) != 0 {
		t.Errorf("no addresses: %q", got)
	}
}
