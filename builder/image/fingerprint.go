package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// Role is the part a file plays in an image.
type Role string

// File roles: a split container image is a metadata file and a rootfs
// file, a split VM image a metadata file and a disk (qcow2), a unified
// image of either one file.
const (
	RoleMetadata Role = "metadata"
	RoleRootfs   Role = "rootfs"
	RoleDisk     Role = "disk"
	RoleUnified  Role = "unified"
)

// Image types: the two forms of a container image, and a virtual
// machine's image in either form (its files' roles tell which).
const (
	TypeSplit   = "split"
	TypeUnified = "unified"
	TypeVM      = "virtual-machine"
)

// LXD's instance types, as its API and image records name them.
const (
	InstanceContainer = "container"
	InstanceVM        = "virtual-machine"
)

// imageForm checks that roles are those of an image, in the order the
// fingerprint takes them, and returns the type they make: TypeSplit,
// TypeVM for a metadata file and a disk, or TypeUnified for one file
// (a container's or a VM's; only the tarball's entries tell).
func imageForm(roles []Role) (string, error) {
	switch {
	case len(roles) == 1 && roles[0] == RoleUnified:
		return TypeUnified, nil
	case len(roles) == 2 && roles[0] == RoleMetadata && roles[1] == RoleRootfs:
		return TypeSplit, nil
	case len(roles) == 2 && roles[0] == RoleMetadata && roles[1] == RoleDisk:
		return TypeVM, nil
	}
	return "", fmt.Errorf("files with roles %v are not an image: a split image is a metadata then a rootfs or disk file, a unified image one unified file", roles)
}

// CombinedHasher computes an image's fingerprint while its files are
// written, with each file's own sha256 and size on the way.
//
// LXD's fingerprint of a split image is sha256 over the metadata file's
// bytes followed by the rootfs file's bytes: one hash over the
// concatenation, which cannot be derived from the two files' own sha256s.
// A writer therefore feeds every byte through Next's FileHasher, the
// whole metadata file first, then the rootfs file.
type CombinedHasher struct {
	sum   hash.Hash
	files []*FileHasher
}

// NewCombinedHasher returns a hasher that has seen no file yet.
func NewCombinedHasher() *CombinedHasher {
	return &CombinedHasher{sum: sha256.New()}
}

// Next starts the image's next file. Writes to an earlier file's
// FileHasher fail from now on: its bytes would land after this one's.
func (c *CombinedHasher) Next(name string, role Role) *FileHasher {
	f := &FileHasher{parent: c, info: FileInfo{Name: name, Role: role}, sum: sha256.New()}
	c.files = append(c.files, f)
	return f
}

// Fingerprint returns the image's fingerprint in lowercase hex, once its
// files were fed: a unified file, or a metadata then a rootfs or disk
// file.
func (c *CombinedHasher) Fingerprint() (string, error) {
	roles := make([]Role, len(c.files))
	for i, f := range c.files {
		roles[i] = f.info.Role
	}
	if _, err := imageForm(roles); err != nil {
		return "", fmt.Errorf("computing the fingerprint: %w", err)
	}
	return hex.EncodeToString(c.sum.Sum(nil)), nil
}

// Files returns each file's name, role, sha256 and size, in order.
func (c *CombinedHasher) Files() []FileInfo {
	out := make([]FileInfo, len(c.files))
	for i, f := range c.files {
		out[i] = f.Info()
	}
	return out
}

// FileHasher hashes one file of an image into its own sha256 and the
// image's fingerprint. It is an io.Writer for io.MultiWriter or io.Copy.
type FileHasher struct {
	parent *CombinedHasher
	info   FileInfo
	sum    hash.Hash
}

// Write adds p to the file and to the fingerprint.
func (f *FileHasher) Write(p []byte) (int, error) {
	if last := f.parent.files[len(f.parent.files)-1]; last != f {
		return 0, fmt.Errorf("hashing %s: %s was started after it, and the fingerprint needs each file whole, in order", f.info.Name, last.info.Name)
	}
	f.sum.Write(p)
	f.parent.sum.Write(p)
	f.info.Size += int64(len(p))
	return len(p), nil
}

// Info returns the file's name, role, size and sha256 so far.
func (f *FileHasher) Info() FileInfo {
	info := f.info
	info.SHA256 = hex.EncodeToString(f.sum.Sum(nil))
	return info
}

// Fingerprint reads files in order — a split image's metadata file then
// its rootfs or disk file, or a unified image's one file — and returns the image's
// fingerprint, as `cat files… | sha256sum` prints it.
func Fingerprint(files ...string) (string, error) {
	var infos []FileInfo
	switch len(files) {
	case 1:
		infos = []FileInfo{{Name: files[0], Role: RoleUnified}}
	case 2:
		infos = []FileInfo{{Name: files[0], Role: RoleMetadata}, {Name: files[1], Role: RoleRootfs}}
	default:
		return "", fmt.Errorf("computing the fingerprint: an image has one or two files, not %d", len(files))
	}
	fp, _, err := HashFiles("", infos...)
	return fp, err
}

// HashFiles reads an image's files from dir once each, in the order given,
// and returns the fingerprint and each file's FileInfo with its sha256
// and size filled in. The files' names are joined to dir; roles must be
// metadata then rootfs or disk, or unified.
func HashFiles(dir string, files ...FileInfo) (string, []FileInfo, error) {
	c := NewCombinedHasher()
	for _, f := range files {
		if err := hashFile(filepath.Join(dir, f.Name), c.Next(f.Name, f.Role)); err != nil {
			return "", nil, err
		}
	}
	fp, err := c.Fingerprint()
	if err != nil {
		return "", nil, err
	}
	return fp, c.Files(), nil
}

func hashFile(path string, w io.Writer) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", path, cerr))
		}
	}()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("hashing %s: not a regular file (%s)", path, info.Mode().Type())
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	return nil
}

// Short abbreviates a fingerprint or cache key to its first 12 digits,
// as lxc image list shows fingerprints.
func Short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
