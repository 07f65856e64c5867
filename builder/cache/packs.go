package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// PackEntry is a packed rootfs file kept for reuse: the rootfs file of a
// split image depends only on the rootfs and the packing settings, so a
// build whose every stage hits reuses it instead of packing again.
type PackEntry struct {
	Key      string          `json:"key"`
	Image    string          `json:"image"`
	File     image.FileInfo  `json:"file"`
	Packages []image.Package `json:"packages"`
	Created  time.Time       `json:"created"`
}

// PackKey is the key of a packed rootfs: the final stage's key, the
// packing settings (type, rootfs format, compression, the clamping epoch
// if any) and what finalize reads from the host.
func PackKey(finalStage string, settings ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00pack\x00%s\x00", FormatVersion, finalStage)
	for _, s := range settings {
		fmt.Fprintf(h, "%d\x00%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) packDir(key string) string { return filepath.Join(c.Dir, "packs", key) }

// LookupPack returns a pack entry and its file's path when complete.
func (c *Cache) LookupPack(key string) (PackEntry, string, bool) {
	var e PackEntry
	dir := c.packDir(key)
	data, err := os.ReadFile(filepath.Join(dir, "pack.json"))
	if err != nil || json.Unmarshal(data, &e) != nil || e.Key != key || e.File.Name == "" {
		return PackEntry{}, "", false
	}
	path := filepath.Join(dir, e.File.Name)
	if st, err := os.Stat(path); err != nil || st.Size() != e.File.Size {
		return PackEntry{}, "", false
	}
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "pack.json"), now, now)
	return e, path, true
}

// StorePack copies a packed rootfs file into the cache under key. The
// entry is assembled in tmp/ and renamed into place whole.
func (c *Cache) StorePack(src string, e PackEntry) (err error) {
	tmp, err := os.MkdirTemp(filepath.Join(c.Dir, "tmp"), "pack-")
	if err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := copyFile(src, filepath.Join(tmp, e.File.Name)); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "pack.json"), data, 0o644); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	// An entry already there is replaced, not kept: it may hold the
	// rootfs of snapshots since rebuilt. The old one is moved aside in
	// one rename, so a reader sees the old entry or the new.
	dst := c.packDir(e.Key)
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err == nil {
		return os.RemoveAll(tmp) // now the old entry
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Packs lists the pack entries.
func (c *Cache) Packs() ([]PackEntry, error) {
	matches, err := filepath.Glob(filepath.Join(c.Dir, "packs", "*", "pack.json"))
	if err != nil {
		return nil, err
	}
	var out []PackEntry
	for _, m := range matches {
		var e PackEntry
		if data, err := os.ReadFile(m); err == nil && json.Unmarshal(data, &e) == nil && e.Key != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// PackLastUsed is when a pack entry was last stored or reused.
func (c *Cache) PackLastUsed(key string) time.Time {
	st, err := os.Stat(filepath.Join(c.packDir(key), "pack.json"))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// RemovePack deletes a pack entry, its description first.
func (c *Cache) RemovePack(key string) error {
	dir := c.packDir(key)
	if err := os.Remove(filepath.Join(dir, "pack.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.RemoveAll(dir)
}
