package vmdisk

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var uuidV8 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestDeriveIDs(t *testing.T) {
	a, err := deriveIDs("debian-bookworm-amd64")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := deriveIDs("debian-bookworm-amd64")
	if a != again {
		t.Errorf("the same seed gave %+v, then %+v", a, again)
	}
	other, _ := deriveIDs("debian-bookworm-arm64")
	all := []string{a.disk, a.esp, a.rootPart, a.rootFS, a.hashSeed}
	for _, u := range all {
		if !uuidV8.MatchString(u) {
			t.Errorf("%q is not a lowercase RFC 9562 version 8 UUID", u)
		}
		if slices.Contains([]string{other.disk, other.esp, other.rootPart, other.rootFS, other.hashSeed}, u) {
			t.Errorf("%s is shared by two seeds", u)
		}
	}
	slices.Sort(all)
	if len(slices.Compact(all)) != 5 {
		t.Errorf("one seed's UUIDs are not distinct: %v", all)
	}
	if !regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`).MatchString(a.espSerial) || strings.ReplaceAll(a.espSerial, "-", "") != a.espVolumeID {
		t.Errorf("ESP serial %q, volume id %q", a.espSerial, a.espVolumeID)
	}
	// Pinned: a change of derivation changes every image's identity and
	// bytes, which should be a decision, not an accident.
	if a.rootFS != "edc3d6da-27a8-879c-8dd6-57bad8e1843b" {
		t.Errorf("root UUID of the seed is %s; the derivation changed", a.rootFS)
	}
	if _, err := deriveIDs(""); err == nil {
		t.Error("an empty seed was accepted: every image would share its UUIDs")
	}
}

func TestLayoutFor(t *testing.T) {
	g, err := layoutFor(4 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if g.espStart != mib || g.espLen != 100*mib || g.rootStart != 101*mib {
		t.Errorf("ESP at %d+%d, root at %d", g.espStart, g.espLen, g.rootStart)
	}
	// The root partition ends at the last MiB boundary before the backup
	// GPT's 33 sectors: 4096 MiB - 1 MiB.
	if end := g.rootStart + g.rootLen; end != 4095*mib {
		t.Errorf("root partition ends at %d, want %d", end, 4095*mib)
	}
	if g.espFirst != 2048 || g.espLast != 206847 || g.rootFirst != 206848 || g.rootLast != 4095*2048-1 {
		t.Errorf("sectors: ESP %d-%d, root %d-%d", g.espFirst, g.espLast, g.rootFirst, g.rootLast)
	}
	if g.espLenKiB != 102400 || g.rootLenKiB*1024 != g.rootLen {
		t.Errorf("KiB: ESP %d, root %d", g.espLenKiB, g.rootLenKiB)
	}
	// A size just over a MiB boundary leaves the partition at the boundary.
	g2, err := layoutFor(4<<30 + 512*40)
	if err != nil {
		t.Fatal(err)
	}
	if g2.rootStart+g2.rootLen != 4096*mib {
		t.Errorf("with 40 more sectors the root ends at %d, want %d", g2.rootStart+g2.rootLen, 4096*mib)
	}
	for _, bad := range []int64{MinSize - mib, 4<<30 + 100} {
		if _, err := layoutFor(bad); err == nil {
			t.Errorf("size %d accepted", bad)
		}
	}
}

func TestLookupArch(t *testing.T) {
	for in, want := range map[string]string{"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"} {
		a, err := lookupArch(in)
		if err != nil || a.name != want {
			t.Errorf("%s: %v %v", in, a.name, err)
		}
	}
	if _, err := lookupArch("riscv64"); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("riscv64: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	got := []string{"6.10.0-1-amd64", "6.1.0-50-cloud-amd64", "6.9.2", "6.1.0-9-cloud-amd64", "5.15"}
	slices.SortFunc(got, compareVersions)
	want := []string{"5.15", "6.1.0-9-cloud-amd64", "6.1.0-50-cloud-amd64", "6.9.2", "6.10.0-1-amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
}

// A dumpe2fs listing cut to what the parser reads; group 1 has no free
// inode, which dumpe2fs prints as an empty list.
const dumpe2fsOut = `Filesystem volume name:   rootfs
Inode count:              24
Free inodes:              13
Inodes per group:         8
Group 0: (Blocks 0-32767) csum 0x1234 [ITABLE_ZEROED]
  Free inodes: 13-16
Group 1: (Blocks 32768-65535) csum 0x1234 [ITABLE_ZEROED]
  Free inodes: 
Group 2: (Blocks 65536-98303) csum 0x1234 [INODE_UNINIT, ITABLE_ZEROED]
  Free inodes: 17, 19-24
`

func TestUsedInodesParse(t *testing.T) {
	total, per, err := inodeCounts([]byte(dumpe2fsOut))
	if err != nil || total != 24 || per != 8 {
		t.Fatalf("counts %d %d %v", total, per, err)
	}
	free, err := freeInodes([]byte(dumpe2fsOut), total, per)
	if err != nil {
		t.Fatal(err)
	}
	var used []int
	for i := 1; i <= total; i++ {
		if !free[i] {
			used = append(used, i)
		}
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18}; !slices.Equal(used, want) {
		t.Errorf("used %v, want %v", used, want)
	}
	missing := strings.Replace(dumpe2fsOut, "  Free inodes: \n", "", 1)
	if _, err := freeInodes([]byte(missing), total, per); err == nil {
		t.Error("a listing without one group's free inodes was accepted")
	}
	if _, err := freeInodes([]byte(strings.Replace(dumpe2fsOut, "19-24", "19-25", 1)), total, per); err == nil {
		t.Error("a free inode beyond the count was accepted")
	}
}

func TestGrubConfig(t *testing.T) {
	a, _ := lookupArch("arm64")
	cfg := grubConfig("bd0cc7a6-fbe8-8a1e-b6d1-0af8e07a0f65", a, bootFiles{kernel: "/boot/vmlinuz-6.1.0-9-arm64", initrd: "/boot/initrd.img-6.1.0-9-arm64"})
	for _, want := range []string{
		"search --no-floppy --fs-uuid --set=root bd0cc7a6-fbe8-8a1e-b6d1-0af8e07a0f65\n",
		"if [ -f ($root)/boot/grub/grub.cfg ]; then\n\tconfigfile ($root)/boot/grub/grub.cfg\n",
		"\tlinux /boot/vmlinuz-6.1.0-9-arm64 root=UUID=bd0cc7a6-fbe8-8a1e-b6d1-0af8e07a0f65 ro console=tty1 console=ttyAMA0\n",
		"\tinitrd /boot/initrd.img-6.1.0-9-arm64\n",
		"set timeout=0\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("grub.cfg lacks %q:\n%s", want, cfg)
		}
	}
}

func TestESPFiles(t *testing.T) {
	a, _ := lookupArch("amd64")
	names := func(files []espFile) []string {
		var n []string
		for _, f := range files {
			n = append(n, f.dir+"/"+f.name)
		}
		return n
	}
	sb := names(espFiles(a, bootFiles{loader: []byte("shim"), grub: []byte("grub"), mokManager: []byte("mm")}, "cfg"))
	want := []string{"EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/grubx64.efi", "EFI/BOOT/mmx64.efi", "EFI/BOOT/grub.cfg", "EFI/debian/grub.cfg", "EFI/ubuntu/grub.cfg"}
	if !slices.Equal(sb, want) {
		t.Errorf("secure boot ESP %v, want %v", sb, want)
	}
	arm, _ := lookupArch("aarch64")
	plain := names(espFiles(arm, bootFiles{loader: []byte("grub")}, "cfg"))
	want = []string{"EFI/BOOT/BOOTAA64.EFI", "EFI/BOOT/grub.cfg", "EFI/debian/grub.cfg", "EFI/ubuntu/grub.cfg"}
	if !slices.Equal(plain, want) {
		t.Errorf("arm64 ESP without secure boot %v, want %v", plain, want)
	}
}
