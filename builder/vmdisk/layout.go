package vmdisk

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

const (
	sectorSize = 512
	mib        = 1 << 20
	// espSize is the EFI system partition's size: room for shim, grub,
	// MokManager and a few kernels should an image ever put them there,
	// the size distrobuilder and the cloud images use.
	espSize = 100 * mib
	// gptTailSectors is what the backup GPT takes at the end of the
	// disk: 32 sectors of 128 entries of 128 bytes, and the header.
	gptTailSectors = 33
	// MinSize is the smallest disk Build makes: the ESP, its 1 MiB of
	// GPT in front, and some room for a root file system.
	MinSize = 1 << 28
)

// arch is what differs between the architectures a VM image boots on.
type arch struct {
	name string // the Debian spelling
	// efiSuffix names the EFI binaries: BOOT<X>.EFI, shim<x>.efi, grub<x>.efi.
	efiSuffix string
	// grubPlatform is grub's directory under /usr/lib/grub.
	grubPlatform string
	// rootType is the Discoverable Partitions Specification's type GUID
	// of a root partition for the architecture; systemd-gpt-auto-generator
	// and systemd-repart recognise the root by it.
	rootType string
	// console is the serial console the firmware and qemu give a VM.
	console string
}

var arches = []arch{
	{name: "amd64", efiSuffix: "x64", grubPlatform: "x86_64-efi", rootType: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", console: "ttyS0"},
	{name: "arm64", efiSuffix: "aa64", grubPlatform: "arm64-efi", rootType: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", console: "ttyAMA0"},
}

// lookupArch accepts the Debian and the kernel spellings, as LXD and
// recipes use both.
func lookupArch(name string) (arch, error) {
	switch name {
	case "x86_64":
		name = "amd64"
	case "aarch64":
		name = "arm64"
	}
	for _, a := range arches {
		if a.name == name {
			return a, nil
		}
	}
	return arch{}, fmt.Errorf("no VM disk for architecture %q: only amd64 (x86_64) and arm64 (aarch64) boot with UEFI here", name)
}

// espType is the EFI system partition's type GUID.
const espType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

// geometry is where the partitions lie on a disk of some size, in bytes.
type geometry struct {
	size                  int64
	espStart, espLen      int64
	rootStart, rootLen    int64
	espFirst, espLast     int64 // sectors, inclusive
	rootFirst, rootLast   int64
	rootLenKiB, espLenKiB int64
}

// layoutFor places a 1 MiB-aligned ESP at 1 MiB and the root partition
// after it up to the last MiB boundary before the backup GPT, the layout
// parted, sgdisk and the cloud images use: aligned partitions keep the
// file systems' blocks on the host storage's boundaries.
func layoutFor(size int64) (geometry, error) {
	if size < MinSize {
		return geometry{}, fmt.Errorf("disk size %d bytes is below the minimum of %d MiB", size, MinSize/mib)
	}
	if size%sectorSize != 0 {
		return geometry{}, fmt.Errorf("disk size %d bytes is not a multiple of %d-byte sectors", size, sectorSize)
	}
	g := geometry{size: size, espStart: mib, espLen: espSize}
	g.rootStart = g.espStart + g.espLen
	rootEnd := (size - gptTailSectors*sectorSize) / mib * mib
	g.rootLen = rootEnd - g.rootStart
	g.espFirst, g.espLast = g.espStart/sectorSize, (g.espStart+g.espLen)/sectorSize-1
	g.rootFirst, g.rootLast = g.rootStart/sectorSize, rootEnd/sectorSize-1
	g.espLenKiB, g.rootLenKiB = g.espLen/1024, g.rootLen/1024
	return g, nil
}

// ids are the identities of one disk, all derived from Options.Seed.
type ids struct {
	disk, esp, rootPart, rootFS string
	hashSeed                    string // ext4's directory hash seed
	espSerial                   string // "ABCD-1234"
	espVolumeID                 string // the same, as mkfs.vfat -i takes it
}

// deriveIDs makes the disk's identities from seed: the same seed gives
// the same UUIDs, so the same rootfs gives the same bytes, and distinct
// images get distinct UUIDs (two disks with one root UUID attached to a
// VM would make root=UUID= ambiguous).
func deriveIDs(seed string) (ids, error) {
	if seed == "" {
		return ids{}, fmt.Errorf("no seed for the disk's UUIDs: every image needs its own")
	}
	serial := derive(seed, "esp-serial")[:4]
	v := strings.ToUpper(hex.EncodeToString(serial))
	return ids{
		disk:        uuidFrom(seed, "disk"),
		esp:         uuidFrom(seed, "esp-partition"),
		rootPart:    uuidFrom(seed, "root-partition"),
		rootFS:      uuidFrom(seed, "root-filesystem"),
		hashSeed:    uuidFrom(seed, "root-hash-seed"),
		espSerial:   v[:4] + "-" + v[4:],
		espVolumeID: v,
	}, nil
}

// derive hashes seed for one purpose; the NUL keeps "a"+"bc" and
// "ab"+"c" apart.
func derive(seed, purpose string) []byte {
	h := sha256.Sum256([]byte("builder vmdisk\x00" + purpose + "\x00" + seed))
	return h[:]
}

// uuidFrom formats 16 derived bytes as an RFC 9562 version 8 UUID (the
// version for UUIDs made by a custom method, here a hash), lowercase as
// blkid and /dev/disk/by-uuid spell them.
func uuidFrom(seed, purpose string) string {
	b := derive(seed, purpose)[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // variant 10
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
