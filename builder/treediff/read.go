package treediff

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Node types, as Node.Type names them.
const (
	TypeFile    = "file"
	TypeDir     = "directory"
	TypeSymlink = "symlink"
	TypeChar    = "char-device"
	TypeBlock   = "block-device"
	TypeFifo    = "fifo"
)

// Node is one path of a tree, as an image carries it.
type Node struct {
	// Path is absolute within the tree, slash-separated: "/" is the
	// root, "/etc/hostname" a file below it. It is the archive's name
	// without empty or "." components (see nodePath), never cleaned
	// further: a hostile "a/../b" stays itself, not "/b".
	Path string `json:"path"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Mode is the permission bits with setuid, setgid and sticky.
	Mode int64 `json:"mode"`
	// UID and GID are numeric: an image's owners are its own ids.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// MTime is as the archive stores it: whole seconds in what builder
	// writes (tar and squashfs alike), but another tool's PAX archive
	// may hold fractions, which extraction restores, so they count.
	MTime time.Time `json:"mtime"`
	// Size and SHA256 are a regular file's contents.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Link is a symlink's target, as stored.
	Link string `json:"link,omitempty"`
	// Hardlink is, for a later path of a file with several, the path
	// first read; the node has that file's contents.
	Hardlink string `json:"hardlink,omitempty"`
	// Major and Minor are a device's numbers.
	Major int64 `json:"major,omitempty"`
	Minor int64 `json:"minor,omitempty"`
	// Xattrs are the extended attributes stored with it.
	Xattrs map[string]string `json:"xattrs,omitempty"`
}

// Tree is a source read: every node by path, and the contents of the
// files Options.Capture asked for.
type Tree struct {
	// Source is what was read.
	Source Source
	// Nodes are the tree's paths. A path an archive holds twice is
	// its later entry, as extraction would leave it.
	Nodes map[string]*Node
	// Files holds the contents captured (Options.Capture), by path.
	Files map[string][]byte
}

// Options configure Read.
type Options struct {
	// Capture, when set, names the regular files whose contents Read
	// keeps in Tree.Files: dpkg's file lists for `builder diff`, say.
	Capture func(path string) bool
	// MaxCapture bounds the bytes captured; past it Read fails rather
	// than hold an image in memory. 0 means DefaultMaxCapture.
	MaxCapture int64
	// MaxMetadata bounds the nodes' memory (see DefaultMaxMetadata);
	// past it Read fails. 0 means DefaultMaxMetadata.
	MaxMetadata int64
}

// DefaultMaxCapture is Options.MaxCapture's default: a Debian image's
// dpkg lists and status take a few MiB.
const DefaultMaxCapture = 256 << 20

// MaxMetadata bounds the memory a tree's nodes take, as Read counts it:
// NodeOverhead bytes per node plus its path, link targets and xattrs.
// Contents are hashed as they stream by, but every node stays in
// memory, and tar headers compress well: a hostile archive of a few MiB
// may hold a million paths, or a MiB of xattrs on each of thousands.
// A Debian image (some 40,000 paths) counts well under 100 MiB.
const (
	DefaultMaxMetadata = 1 << 30
	NodeOverhead       = 256
)

// Read reads every node of s, hashing each regular file.
func Read(ctx context.Context, s Source, opts Options) (_ *Tree, err error) {
	r, err := s.Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("reading %s: %w", s, cerr)
		}
	}()
	t := &Tree{Source: s, Nodes: make(map[string]*Node)}
	if err := t.read(ctx, r, opts); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s, err)
	}
	// Read to the end: the producer (sqfs2tar, the walk) then finishes
	// on its own and its outcome is known.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s, err)
	}
	return t, nil
}

func (t *Tree) read(ctx context.Context, r io.Reader, opts Options) error {
	maxCapture := opts.MaxCapture
	if maxCapture <= 0 {
		maxCapture = DefaultMaxCapture
	}
	maxMetadata := opts.MaxMetadata
	if maxMetadata <= 0 {
		maxMetadata = DefaultMaxMetadata
	}
	var captured, metadata int64
	tr := tar.NewReader(r)
	// archiveNames maps an archive name to its node's path, for hard
	// links, which name their target as the archive does.
	archiveNames := make(map[string]string)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			// PAX records meant for every later entry (git archive writes
			// one); archive/tar does not apply them, and no image writer
			// uses them, so they are not a path of the tree.
			continue
		}
		p, ok := nodePath(h.Name, t.Source.Prefix)
		if !ok {
			continue
		}
		n := &Node{Path: p, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, MTime: h.ModTime.UTC(), Xattrs: xattrs(h)}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
			n.Type = TypeFile
			var keep *capture
			if opts.Capture != nil && opts.Capture(p) {
				keep = &capture{left: maxCapture - captured}
			}
			sum, size, err := hashContent(ctxReader{ctx, tr}, keep)
			if errors.Is(err, errCaptureFull) {
				return fmt.Errorf("%s: the files to capture exceed %d bytes", displayPath(p), maxCapture)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", displayPath(p), err)
			}
			n.Size, n.SHA256 = size, sum
			if keep != nil {
				captured += size
				if t.Files == nil {
					t.Files = make(map[string][]byte)
				}
				t.Files[p] = keep.buf.Bytes()
			}
		case tar.TypeLink:
			target, ok := t.Nodes[archiveNames[archiveKey(h.Linkname)]]
			if !ok {
				return fmt.Errorf("%s: hard link to %q, which the archive does not hold before it", displayPath(p), h.Linkname)
			}
			// The inode's: type, contents and attributes come with
			// its first path, as tar writers store them.
			linked := *target
			linked.Path, linked.Hardlink = p, target.Path
			if target.Hardlink != "" {
				linked.Hardlink = target.Hardlink
			}
			n = &linked
			if opts.Capture != nil && opts.Capture(p) && t.Files[target.Path] != nil {
				t.Files[p] = t.Files[target.Path]
			}
		case tar.TypeDir:
			n.Type = TypeDir
		case tar.TypeSymlink:
			n.Type, n.Link = TypeSymlink, h.Linkname
		case tar.TypeChar, tar.TypeBlock:
			n.Type = TypeChar
			if h.Typeflag == tar.TypeBlock {
				n.Type = TypeBlock
			}
			n.Major, n.Minor = h.Devmajor, h.Devminor
		case tar.TypeFifo:
			n.Type = TypeFifo
		default:
			return fmt.Errorf("%s: tar entry type %q is not a file an image holds", displayPath(p), h.Typeflag)
		}
		if metadata += nodeCost(h); metadata > maxMetadata {
			return fmt.Errorf("%s: the tree's paths, links and xattrs exceed %d bytes (%d bytes counted per path)", displayPath(p), maxMetadata, NodeOverhead)
		}
		archiveNames[archiveKey(h.Name)] = p
		t.Nodes[p] = n
	}
}

// nodePath turns an archive name into a node's path, or reports false
// for an entry outside prefix. Empty and "." components go, as
// extraction ignores them: "./etc//passwd" and "etc/passwd" are one
// file, and were they two nodes, an archive holding both spellings
// would compare the same as one holding them in the other order, which
// extracts the other contents. ".." stays: tar refuses such a name
// rather than resolve it, so "a/../b" is never "/b", and shows as the
// archive holds it.
func nodePath(name, prefix string) (string, bool) {
	parts := make([]string, 0, strings.Count(name, "/")+1)
	for part := range strings.SplitSeq(name, "/") {
		if part != "" && part != "." {
			parts = append(parts, part)
		}
	}
	if prefix != "" {
		if len(parts) == 0 || parts[0] != strings.Trim(prefix, "/") {
			return "", false
		}
		parts = parts[1:]
	}
	return "/" + strings.Join(parts, "/"), true
}

// xattrs reads the SCHILY.xattr.* records, the ones builder, GNU tar and
// sqfs2tar write.
func xattrs(h *tar.Header) map[string]string {
	var x map[string]string
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if x == nil {
				x = make(map[string]string)
			}
			x[name] = v
		}
	}
	return x
}

// nodeCost is what a node read from h holds in memory, near enough: its
// name twice (the node and archiveNames), its link and its xattrs.
func nodeCost(h *tar.Header) int64 {
	n := int64(NodeOverhead + 2*len(h.Name) + len(h.Linkname))
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			n += int64(len(k) + len(v))
		}
	}
	return n
}

// archiveKey is an archive name as a hard link may spell it: "./a",
// "a" and "/a" are one entry.
func archiveKey(name string) string {
	p, _ := nodePath(name, "")
	return p
}

// errCaptureFull is a capture past Options.MaxCapture.
var errCaptureFull = errors.New("capture limit reached")

// capture keeps a file's contents, up to left bytes.
type capture struct {
	buf  bytes.Buffer
	left int64
}

func (c *capture) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		return 0, errCaptureFull
	}
	c.left -= int64(len(p))
	return c.buf.Write(p)
}

// ctxReader ends a read when ctx ends. Contents are the one read that
// may take long: a sparse entry of a few hundred bytes may claim a
// petabyte of zeros, which are hashed one by one, so Ctrl-C (or the
// other tree failing) must be able to stop it mid-file.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashContent hashes a file's contents, and keeps them in keep when set.
func hashContent(r io.Reader, keep *capture) (sum string, size int64, err error) {
	h := sha256.New()
	w := io.Writer(h)
	if keep != nil {
		w = io.MultiWriter(h, keep)
	}
	if size, err = io.Copy(w, r); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}
