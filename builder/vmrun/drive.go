package vmrun

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ConfigLabel is the label of the config drive: the VM images' agent
// setup (recipes/files/vm/vm-agent-setup) mounts the drive so labelled
// when the host offers no share tagged "config", as LXD does for guests
// without virtiofs or 9p.
const ConfigLabel = "config"

// MakeConfigDrive writes a FAT file system image at path labelled
// ConfigLabel and holding the files of dir (not its subdirectories'
// contents: the agent's drive is flat). A FAT image needs no root and
// no loop device: mkfs.vfat makes it and mtools' mcopy fills it.
func MakeConfigDrive(ctx context.Context, dir, path string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("config drive: %w", err)
	}
	var size int64
	var files []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("config drive: %w", err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("config drive: %s is not a regular file", filepath.Join(dir, e.Name()))
		}
		// Each file takes whole clusters: round up generously.
		size += info.Size() + 64<<10
		files = append(files, filepath.Join(dir, e.Name()))
	}
	// FAT's own tables and a margin; mkfs.vfat counts 1 KiB blocks.
	kib := (size+size/16)/1024 + 2048
	_ = os.Remove(path) // mkfs.vfat -C refuses an existing file
	if out, err := exec.CommandContext(ctx, "mkfs.vfat", "-C", path, strconv.FormatInt(kib, 10), "-n", ConfigLabel).CombinedOutput(); err != nil {
		return fmt.Errorf("config drive: mkfs.vfat (Debian package dosfstools): %w: %s", err, strings.TrimSpace(string(out)))
	}
	if len(files) == 0 {
		return nil
	}
	cmd := exec.CommandContext(ctx, "mcopy", append(append([]string{"-i", path, "-Q", "-o"}, files...), "::/")...)
	// No mtools.conf is needed for an image file; skip its drive checks.
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("config drive: mcopy (Debian package mtools): %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
