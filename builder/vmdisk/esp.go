package vmdisk

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// grubConfig is the grub.cfg on the ESP. grub finds it beside itself
// (EFI/BOOT when booted through the removable-media path), or in its
// built-in prefix: Debian's signed grub looks in /EFI/debian, Ubuntu's in
// /EFI/ubuntu, so the file goes to all three. It finds the root file
// system by UUID, then hands over to the image's own /boot/grub/grub.cfg
// when one is there (an image that runs update-grub), else boots the
// kernel the build found.
func grubConfig(rootUUID string, a arch, boot bootFiles) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by builder: find the root file system, then boot it.
search --no-floppy --fs-uuid --set=root %[1]s
set prefix=($root)/boot/grub
if [ -f ($root)/boot/grub/grub.cfg ]; then
	configfile ($root)/boot/grub/grub.cfg
fi
set default=0
set timeout=0
menuentry "Linux" {
	linux %[2]s root=UUID=%[1]s ro console=tty1 console=%[3]s
	initrd %[4]s
}
`, rootUUID, boot.kernel, a.console, boot.initrd)
	return b.String()
}

// espFile is one file of the ESP.
type espFile struct {
	dir, name string
	data      []byte
}

// espFiles lays out the ESP: the loader under the removable-media name
// the firmware boots without any boot entry (a fresh VM has none), the
// second stage and MokManager beside it, where shim looks for them.
func espFiles(a arch, boot bootFiles, cfg string) []espFile {
	upper := strings.ToUpper(a.efiSuffix)
	files := []espFile{{"EFI/BOOT", "BOOT" + upper + ".EFI", boot.loader}}
	if boot.grub != nil {
		files = append(files, espFile{"EFI/BOOT", "grub" + a.efiSuffix + ".efi", boot.grub})
	}
	if boot.mokManager != nil {
		files = append(files, espFile{"EFI/BOOT", "mm" + a.efiSuffix + ".efi", boot.mokManager})
	}
	for _, dir := range []string{"EFI/BOOT", "EFI/debian", "EFI/ubuntu"} {
		files = append(files, espFile{dir, "grub.cfg", []byte(cfg)})
	}
	return files
}

// makeESP makes the FAT32 ESP inside the disk file and copies files
// into it, without mounting: mkfs.vfat writes at the partition's offset,
// mtools reads and writes the file system at it (file@@offset).
// --invariant (first: it would override -i's volume id) and -i fix what mkfs.vfat would take from the clock and
// the random source; SOURCE_DATE_EPOCH gives mtools' directories the
// epoch, and mcopy -m gives each file the staged copy's mtime, the epoch.
func (b *builder) makeESP(ctx context.Context, disk string, files []espFile) error {
	// One sector per cluster: at 100 MiB that is the 200,000 clusters
	// FAT32 wants at least 65,525 of.
	_, err := b.run(ctx, nil, "mkfs.vfat", "--invariant", "-F", "32", "-s", "1", "-n", "UEFI", "-i", b.ids.espVolumeID,
		"--mbr=n", "-h", strconv.FormatInt(b.geo.espFirst, 10), "--offset", strconv.FormatInt(b.geo.espFirst, 10),
		disk, strconv.FormatInt(b.geo.espLenKiB, 10))
	if err != nil {
		return err
	}
	img := disk + "@@" + strconv.FormatInt(b.geo.espStart, 10)
	env := []string{"SOURCE_DATE_EPOCH=" + b.epochString(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null"}
	stage := filepath.Join(b.tmp, "esp")
	var dirs []string
	byDir := map[string][]string{}
	for i, f := range files {
		if _, ok := byDir[f.dir]; !ok {
			dirs = append(dirs, f.dir)
		}
		// Staged under a numbered directory: several files share a name.
		sub := filepath.Join(stage, strconv.Itoa(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return fmt.Errorf("staging the ESP: %w", err)
		}
		p, err := writeStaged(sub, f.name, f.data, b.epoch.Unix())
		if err != nil {
			return err
		}
		byDir[f.dir] = append(byDir[f.dir], p)
	}
	mkdirs := []string{"-i", img}
	seen := map[string]bool{}
	for _, d := range dirs {
		for p := d; p != "." && !seen[p]; p = filepath.Dir(p) {
			seen[p] = true
		}
	}
	// Sorted, parents come first: "EFI" before "EFI/BOOT".
	for _, d := range slices.Sorted(maps.Keys(seen)) {
		mkdirs = append(mkdirs, "::/"+d)
	}
	if _, err := b.run(ctx, env, "mmd", mkdirs...); err != nil {
		return err
	}
	for _, d := range dirs {
		args := append([]string{"-i", img, "-m", "-o"}, byDir[d]...)
		if _, err := b.run(ctx, env, "mcopy", append(args, "::/"+d+"/")...); err != nil {
			return err
		}
	}
	return nil
}
