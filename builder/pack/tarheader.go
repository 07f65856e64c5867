package pack

import (
	"archive/tar"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// entry is what the tree walk or a FileEntry knows about one archive
// member, before any header rule is applied. tarHeader turns it into the
// header; nothing else decides a header field.
type entry struct {
	// rel is the slash-separated path below the tree root; "" is the root.
	rel string
	// mode is st_mode: the file type (S_IFMT) and the permission bits.
	mode       uint32
	uid, gid   int
	mtime      time.Time
	size       int64
	symlink    string // a symlink's target, as read, never followed
	hardlinkTo string // the archive name of the first path of its inode
	rdev       uint64
	xattrs     map[string]string
}

// tarHeader decides every field of the header written for e. It is the
// only place that does, so that the tree walk and the in-memory metadata
// files follow one set of rules; each rule says why.
func tarHeader(e *entry, opts TarOptions) (*tar.Header, error) {
	h := &tar.Header{
		// PAX: the one standard format that carries xattrs
		// (SCHILY.xattr.*), long names and large ids, and what GNU tar,
		// LXD's extractor, reads. archive/tar still writes a plain
		// ustar header when an entry needs no PAX record.
		Format: tar.FormatPAX,

		// Name: see archiveName (prefix, "./" for a split root,
		// trailing slash on directories).
		Name: archiveName(e, opts.Prefix),

		// Permission bits plus setuid, setgid and sticky: they are part
		// of what the image means (su, /tmp). The file type travels in
		// Typeflag, never in Mode.
		Mode: int64(e.mode & 0o7777),

		// Numeric owners only, names cleared: the build host's
		// /etc/passwd says nothing about the image's, and LXD extracts
		// with --numeric-owner anyway.
		Uid: e.uid, Gid: e.gid, Uname: "", Gname: "",

		// Whole seconds (a fraction would need a PAX mtime record and
		// no reader of these images wants it), clamped to
		// SOURCE_DATE_EPOCH when it is set, like GNU tar's
		// --clamp-mtime: files the build touched get the epoch, older
		// files keep their own time, so two builds of the same recipe
		// give the same bytes.
		ModTime: clampTime(e.mtime, opts.SourceDateEpoch),

		// AccessTime and ChangeTime stay zero, so no atime/ctime PAX
		// records: they change whenever the tree is read or chowned
		// and would make every build differ.
	}

	switch typ := e.mode & unix.S_IFMT; {
	case e.hardlinkTo != "" && typ != unix.S_IFDIR:
		// Every later path of an inode (file, symlink, device or fifo)
		// is a hard link to the first path written, so extraction
		// recreates the sharing and the data is stored once. A link
		// entry has no data of its own.
		h.Typeflag, h.Linkname = tar.TypeLink, e.hardlinkTo
	case typ == unix.S_IFDIR:
		// Directories: no size; the trailing slash is in Name.
		h.Typeflag = tar.TypeDir
	case typ == unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, e.size
	case typ == unix.S_IFLNK:
		// The target as stored, never resolved: it means something only
		// inside the image.
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.symlink
	case typ == unix.S_IFCHR || typ == unix.S_IFBLK:
		// Device numbers only; a device's contents are never read.
		h.Typeflag = tar.TypeChar
		if typ == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(e.rdev)), int64(unix.Minor(e.rdev))
	case typ == unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		// Sockets are never archived: running programs make them and
		// they mean nothing in an image. The walk skips them, so
		// reaching this is a bug.
		return nil, fmt.Errorf("%s: cannot archive file type %#o", h.Name, typ)
	}

	// Extended attributes as SCHILY.xattr.<name>, the records GNU tar
	// writes and restores with --xattrs (LXD passes
	// --xattrs-include=*). security.capability is why they matter:
	// ping and friends lose their capabilities without it. archive/tar
	// writes records sorted by key, so their order is fixed too. Which
	// names are kept is decided by keepXattr. A hard link carries none:
	// the attributes belong to the inode, written with its first path.
	if len(e.xattrs) > 0 && h.Typeflag != tar.TypeLink {
		h.PAXRecords = make(map[string]string, len(e.xattrs))
		for name, value := range e.xattrs {
			h.PAXRecords["SCHILY.xattr."+name] = value
		}
	}
	return h, nil
}

// archiveName is an entry's name in the archive.
//   - Below the root: Prefix + the path relative to the root, so a
//     unified image's tree sits under "rootfs/" and a split rootfs
//     tarball's is relative to "/".
//   - Directories end in "/", as GNU tar writes them and as LXD's
//     documentation asks of archive/tar users.
//   - The root itself is Prefix ("rootfs/") in a unified image. In a
//     split rootfs tarball it is "./", as `tar -C root -c .` writes it:
//     LXD unpacks that tarball into rootfs/, so "./" carries the root
//     directory's mode, owner and time there. Every other split entry
//     drops GNU tar's "./" ("etc/", "etc/hostname").
func archiveName(e *entry, prefix string) string {
	if e.rel == "" {
		if prefix == "" {
			return "./"
		}
		return prefix
	}
	name := prefix + e.rel
	if e.mode&unix.S_IFMT == unix.S_IFDIR {
		name += "/"
	}
	return name
}

// clampTime truncates t to whole seconds and clamps it to epoch when set.
func clampTime(t time.Time, epoch *time.Time) time.Time {
	t = time.Unix(t.Unix(), 0)
	if epoch != nil && t.After(*epoch) {
		t = time.Unix(epoch.Unix(), 0)
	}
	return t.UTC()
}

// keepXattr is the table of which extended attributes go into images.
// It is a function, not a map, so nothing can extend it at run time.
func keepXattr(name string) bool {
	switch {
	case name == "security.selinux":
		// The build host's SELinux label: the system that runs the
		// container labels its files by its own policy, and a host
		// label would only make images differ by where they were built.
		return false
	case strings.HasPrefix(name, "trusted.overlay."):
		// overlayfs bookkeeping, present when the tree is an overlay
		// upper directory; meaningless (and misleading) anywhere else.
		return false
	default:
		// Everything else is the image's: user.*, security.capability,
		// security.ima, trusted.* and system.posix_acl_* (ACLs).
		return true
	}
}

// validPrefix checks TarOptions.Prefix: empty, or a relative, clean
// directory name ending in "/".
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	dir, ok := strings.CutSuffix(prefix, "/")
	if !ok || !validRel(dir) {
		return fmt.Errorf("tar prefix %q must be a relative directory name ending in \"/\", such as \"rootfs/\"", prefix)
	}
	return nil
}

// validRel reports whether p is a clean, relative, slash-separated path
// with no "." or ".." element.
func validRel(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.ContainsRune(elem, 0) {
			return false
		}
	}
	return true
}

// CompareNames orders paths as `tar --sort=name` walks a tree, and so
// as WriteTree writes it: element by element in byte order, so a
// directory comes right before its contents ("a", "a/b", "a-b"; a plain
// string sort would put "a-b" before "a/b"). treediff reports in this
// order too.
func CompareNames(a, b string) int {
	for {
		ea, resta, moreA := strings.Cut(a, "/")
		eb, restb, moreB := strings.Cut(b, "/")
		if c := strings.Compare(ea, eb); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = resta, restb
	}
}
