package image

import (
	"errors"
	"fmt"
	"regexp"
)

// DiskFormatQcow2 is the one disk format LXD and Incus take for a VM
// image's root disk.
const DiskFormatQcow2 = "qcow2"

// Disk is image.json's record of a VM image's disk: what it is and the
// identities in its partition table and filesystems. The identities are
// derived from the image, so the same image gives the same ones; they
// are recorded because a consumer needs them without opening the disk
// (an fstab or a boot entry written elsewhere, a test that checks the
// disk it booted is the one built).
type Disk struct {
	// Format is the disk file's format: DiskFormatQcow2.
	Format string `json:"format"`
	// Size is the disk's virtual size in bytes (the qcow2 file is
	// smaller).
	Size int64 `json:"size"`
	// Filesystem is the root partition's filesystem, "ext4".
	Filesystem string `json:"filesystem"`
	// SecureBoot says the signed shim and grub are installed, so the
	// image boots with secure boot enforced.
	SecureBoot bool `json:"secure_boot"`
	// DiskGUID is the GPT disk GUID.
	DiskGUID string `json:"disk_guid"`
	// ESPPartUUID and RootPartUUID are the partitions' unique GUIDs
	// (PARTUUID=).
	ESPPartUUID  string `json:"esp_partuuid"`
	RootPartUUID string `json:"root_partuuid"`
	// ESPSerial is the EFI system partition's vfat volume ID
	// ("ABCD-1234", UUID= for vfat).
	ESPSerial string `json:"esp_serial"`
	// RootUUID is the root filesystem's UUID (UUID=).
	RootUUID string `json:"root_uuid"`
}

var (
	guidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	vfatSerialRE = regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`)
)

// Check reports what makes d inconsistent: a format other than qcow2, a
// size that is not positive, no filesystem, an identity that is not
// spelled as blkid prints it.
func (d Disk) Check() error {
	var errs []error
	if d.Format != DiskFormatQcow2 {
		errs = append(errs, fmt.Errorf("disk format %q is not %s", d.Format, DiskFormatQcow2))
	}
	if d.Size <= 0 {
		errs = append(errs, fmt.Errorf("disk size %d is not positive", d.Size))
	}
	if d.Filesystem == "" {
		errs = append(errs, errors.New("the disk has no filesystem"))
	}
	for _, g := range []struct{ name, value string }{
		{"disk_guid", d.DiskGUID}, {"esp_partuuid", d.ESPPartUUID},
		{"root_partuuid", d.RootPartUUID}, {"root_uuid", d.RootUUID},
	} {
		if !guidRE.MatchString(g.value) {
			errs = append(errs, fmt.Errorf("disk %s %q is not a GUID", g.name, g.value))
		}
	}
	if !vfatSerialRE.MatchString(d.ESPSerial) {
		errs = append(errs, fmt.Errorf("disk esp_serial %q is not a vfat volume ID (XXXX-XXXX, uppercase hex)", d.ESPSerial))
	}
	return errors.Join(errs...)
}
