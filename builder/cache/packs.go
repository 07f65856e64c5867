package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sbom"
)

// PackEntry is a packed file kept for reuse: the rootfs file of a split
// image, or the disk of a VM image, depends only on the rootfs and the
// packing settings, so a build whose every stage hits reuses it instead
// of packing again.
type PackEntry struct {
	Key      string          `json:"key"`
	Image    string          `json:"image"`
	File     image.FileInfo  `json:"file"`
	Packages []image.Package `json:"packages"`
	// Disk is a VM disk's record, which image.json repeats: the disk's
	// identities are in its bytes.
	Disk *image.Disk `json:"disk,omitempty"`
	// SBOM is what the image's SBOM says beyond Packages, read from the
	// rootfs the file was packed from; an entry an older builder kept
	// has none, and is not reused.
	SBOM    *sbom.Facts `json:"sbom,omitempty"`
	Created time.Time   `json:"created"`
}

// packRole is the role the file kept under name has in its image.
func packRole(name string) image.Role {
	if name == packDiskName {
		return image.RoleDisk
	}
	return image.RoleRootfs
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

func packDir(key string) string { return "packs/" + key }

// checkPack reads packs/KEY/pack.json and checks it and its file's name,
// type and size (its bytes are checked as they are copied out). A
// missing entry is fs.ErrNotExist, a damaged one a Damage.
func checkPack(r *os.Root, key string) (PackEntry, error) {
	dir := packDir(key)
	st, err := r.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return PackEntry{}, err
		}
		return PackEntry{}, Damage{Entry: dir, Problem: err.Error()}
	}
	if !st.IsDir() {
		return PackEntry{}, Damage{Entry: dir, Problem: kindOf(st.Mode()) + ", not a directory"}
	}
	data, err := readRegular(r, dir+"/pack.json")
	if errors.Is(err, fs.ErrNotExist) {
		return PackEntry{}, Damage{Entry: dir, Problem: "it has no pack.json"}
	} else if err != nil {
		return PackEntry{}, err
	}
	var e PackEntry
	problem := ""
	if err := json.Unmarshal(data, &e); err != nil {
		problem = "pack.json is not a pack entry: " + err.Error()
	} else if e.Key != key {
		problem = fmt.Sprintf("its key %q is not its directory's name", e.Key)
	} else if !slices.Contains(packFileNames(), e.File.Name) {
		problem = fmt.Sprintf("its file is named %q, not one builder writes (%s)", e.File.Name, strings.Join(packFileNames(), ", "))
	} else if role := packRole(e.File.Name); e.File.Role != role {
		problem = fmt.Sprintf("its file's role is %q, not %q", e.File.Role, role)
	} else if p := checkSHA256(e.File.SHA256); p != "" {
		problem = p
	} else if e.File.Role == image.RoleDisk && e.Disk == nil {
		problem = "its disk has no record"
	} else if e.File.Role == image.RoleDisk {
		if err := e.Disk.Check(); err != nil {
			problem = "its disk record: " + err.Error()
		}
	} else if e.Disk != nil {
		problem = "a disk record for a rootfs file"
	}
	if problem == "" && e.SBOM != nil {
		if err := e.SBOM.Check(); err != nil {
			problem = "its SBOM facts: " + err.Error()
		}
	}
	if problem != "" {
		return PackEntry{}, Damage{Entry: dir, Problem: problem}
	}
	name := dir + "/" + e.File.Name
	if st, err = r.Lstat(name); err != nil {
		return PackEntry{}, Damage{Entry: name, Problem: err.Error()}
	}
	if !st.Mode().IsRegular() {
		return PackEntry{}, Damage{Entry: name, Problem: kindOf(st.Mode()) + ", not a regular file"}
	}
	if st.Size() != e.File.Size {
		return PackEntry{}, Damage{Entry: name, Problem: fmt.Sprintf("%d bytes, not the recorded %d", st.Size(), e.File.Size)}
	}
	return e, nil
}

// LookupPack returns a complete pack entry. A damaged one is removed
// and reported, and misses.
func (c *Cache) LookupPack(key string) (PackEntry, bool) {
	if !validKey(key) {
		return PackEntry{}, false
	}
	r, err := c.open()
	if err != nil {
		return PackEntry{}, false
	}
	defer r.Close()
	e, err := checkPack(r, key)
	if err != nil {
		var d Damage
		if errors.As(err, &d) && r.RemoveAll(packDir(key)) == nil {
			c.report(d)
		}
		return PackEntry{}, false
	}
	now := time.Now()
	_ = r.Chtimes(packDir(key)+"/pack.json", now, now)
	return e, true
}

// PackFile is the path of a pack entry's file, for messages; use
// OpenPackFile to read it.
func (c *Cache) PackFile(key string, e PackEntry) string {
	return filepath.Join(c.Dir, "packs", key, e.File.Name)
}

// OpenPackFile opens the file of a pack entry LookupPack returned. The
// caller checks its sha256 against e.File.SHA256 as it copies it.
func (c *Cache) OpenPackFile(key string, e PackEntry) (*os.File, error) {
	if !validKey(key) || !slices.Contains(packFileNames(), e.File.Name) {
		return nil, fmt.Errorf("opening the packed rootfs %q of %q: not a pack entry", e.File.Name, key)
	}
	r, err := c.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	f, st, err := openRegular(r, packDir(key)+"/"+e.File.Name)
	if err != nil {
		return nil, err
	}
	if st.Size() != e.File.Size {
		f.Close()
		return nil, Damage{Entry: packDir(key) + "/" + e.File.Name, Problem: fmt.Sprintf("%d bytes, not the recorded %d", st.Size(), e.File.Size)}
	}
	return f, nil
}

// StorePack copies a packed rootfs file into the cache under key,
// checking on the way that it has the sha256 e records. The entry is
// assembled in tmp/ and renamed into place whole.
func (c *Cache) StorePack(src string, e PackEntry) (err error) {
	switch {
	case !validKey(e.Key):
		return fmt.Errorf("storing the packed rootfs under %q: not a key", e.Key)
	case !slices.Contains(packFileNames(), e.File.Name):
		return fmt.Errorf("storing the packed rootfs %q: not a name builder writes", e.File.Name)
	case e.File.Role != packRole(e.File.Name):
		return fmt.Errorf("storing the packed %s: its role is %q, not %q", e.File.Name, e.File.Role, packRole(e.File.Name))
	case e.File.Role == image.RoleDisk && e.Disk == nil:
		return fmt.Errorf("storing the packed %s: no disk record", e.File.Name)
	case checkSHA256(e.File.SHA256) != "":
		return fmt.Errorf("storing the packed rootfs %s: %s", e.File.Name, checkSHA256(e.File.SHA256))
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := mkdirTemp(r, "pack-")
	if err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	defer func() {
		if err != nil {
			_ = r.RemoveAll(tmp)
		}
	}()
	if err := copyChecked(r, src, tmp+"/"+e.File.Name, e.File); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := r.WriteFile(tmp+"/pack.json", data, 0o644); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	// An entry already there is replaced, not kept: it may hold the
	// rootfs of snapshots since rebuilt. The old one is moved aside in
	// one rename, so a reader sees the old entry or the new. The rename
	// works on the directories' handles, opened inside the cache.
	tmpDir, err := r.Open("tmp")
	if err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	defer tmpDir.Close()
	packs, err := r.Open("packs")
	if err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	defer packs.Close()
	base := strings.TrimPrefix(tmp, "tmp/")
	err = unix.Renameat2(int(tmpDir.Fd()), base, int(packs.Fd()), e.Key, unix.RENAME_EXCHANGE)
	if err == nil {
		// tmp is now the old entry, or the link planted in its place:
		// RemoveAll removes a link, never what it points to.
		return r.RemoveAll(tmp)
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	if err := r.Rename(tmp, packDir(e.Key)); err != nil {
		return fmt.Errorf("storing the packed rootfs: %w", err)
	}
	return nil
}

// mkdirTemp creates a new directory in tmp/ and returns its name
// relative to the cache.
func mkdirTemp(r *os.Root, prefix string) (string, error) {
	for range 100 {
		name := tempName(prefix + "*")
		err := r.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, err
	}
	return "", fmt.Errorf("no free temporary name for %s", prefix)
}

// copyChecked copies src (outside the cache) to the new file dst inside
// it, failing when the bytes are not the ones info describes.
func copyChecked(r *os.Root, src, dst string, info image.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := r.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != info.SHA256 || n != info.Size {
		return fmt.Errorf("%s has sha256 %s (%d bytes), not %s (%d bytes) as packed", src, sum, n, info.SHA256, info.Size)
	}
	return nil
}

// RemovePack deletes a pack entry, its description first so that no
// reader takes a file about to vanish. A link planted in its place is
// removed, not followed.
func (c *Cache) RemovePack(key string) error {
	if !validKey(key) {
		return fmt.Errorf("removing the pack entry %q: not a key", key)
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	return removePack(r, key)
}

func removePack(r *os.Root, key string) error {
	dir := packDir(key)
	if st, err := r.Lstat(dir); err == nil && st.IsDir() {
		if err := r.Remove(dir + "/pack.json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	if err := r.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}
