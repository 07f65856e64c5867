package confined

// The `oci` bootstrap backend's layers: each is a tar stream applied on
// top of the ones before it, with the OCI image spec's whiteouts, through
// the same checks and tree writer as an archive.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The OCI image spec's whiteout names (image-spec layer.md, as Docker
// and overlayfs-based runtimes write them).
const (
	// whiteoutPrefix marks a deleted entry: DIR/.wh.NAME removes
	// DIR/NAME of the layers below.
	whiteoutPrefix = ".wh."
	// whiteoutMeta starts the names of whiteout metadata, of which only
	// the opaque marker means something here.
	whiteoutMeta = whiteoutPrefix + whiteoutPrefix
	// whiteoutOpaque in DIR hides everything the layers below put in
	// DIR; what this layer puts there stays.
	whiteoutOpaque = whiteoutMeta + ".opq"
)

// Layers applies an image's layers, in order, to a root: ApplyFile once
// a layer, then Close. What all of them expand to together is bounded by
// one maxSize, as one archive's is.
type Layers struct {
	root     *Root
	maxSize  int64
	expanded int64
}

// OpenLayers opens root, an empty directory or the result of earlier
// layers, for applying layers up to maxSize (<= 0: DefaultMaxExtract).
func OpenLayers(root string, maxSize int64) (*Layers, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxExtract
	}
	rt, err := OpenRoot(root)
	if err != nil {
		return nil, err
	}
	return &Layers{root: rt, maxSize: maxSize}, nil
}

// Close releases the root.
func (l *Layers) Close() error { return l.root.Close() }

// ApplyFile applies the layer in f, a tar stream plain or compressed
// (gzip and zstd are the spec's; xz and bzip2 are detected as for an
// archive), which the caller opened and checked against its digest: what
// is applied is what was checked. diffID, when set, is the sha256 the
// image's config states for the uncompressed stream ("sha256:…"), which
// is checked once the layer is applied: a layer whose tar stream is not
// the one its image describes fails the build. It closes f.
func (l *Layers) ApplyFile(ctx context.Context, f *os.File, diffID string) (err error) {
	a, err := openArchive(f, f.Name())
	if err != nil {
		return err
	}
	defer closeInto(a, &err)
	h := sha256.New()
	if err := l.Apply(ctx, io.TeeReader(a, h)); err != nil {
		return err
	}
	// The tar reader stops at the end-of-archive blocks; the diff_id
	// covers the padding after them too, which tar writers keep small
	// (GNU tar fills a 10 KiB record).
	n, err := io.Copy(h, io.LimitReader(a, maxLayerTrailer+1))
	if err != nil {
		return fmt.Errorf("reading the layer's end: %w", err)
	}
	if n > maxLayerTrailer {
		return fmt.Errorf("the layer has more than %s after its end of archive", FormatSize(maxLayerTrailer))
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); diffID != "" && got != diffID {
		return fmt.Errorf("the layer's tar stream has digest %s, but the image's config says %s", got, diffID)
	}
	return nil
}

// maxLayerTrailer bounds what a layer may hold after its end-of-archive
// blocks, read only for its diff_id.
const maxLayerTrailer = 1 << 20

// Apply applies one layer's uncompressed tar stream. Every entry is
// checked as ExtractTar checks an archive's, and refused with its name
// when it would leave the root; besides:
//   - DIR/.wh.NAME removes DIR/NAME and everything below it, unless this
//     layer created it; what this layer put below it stays, wherever the
//     whiteout comes in the stream (a whiteout hides the layers below
//     only);
//   - DIR/.wh..wh..opq removes what the layers below put in DIR, keeping
//     what this layer put there; other .wh..wh. names (aufs metadata)
//     are skipped;
//   - a non-directory replaces an existing directory with its contents.
//
// Whiteouts never follow a symlink at the name they remove; directories
// on the way resolve inside the image, as every write's do.
func (l *Layers) Apply(ctx context.Context, r io.Reader) error {
	w := &treeWriter{root: l.root, owners: os.Geteuid() == 0, holes: newHoleWriter(), replaceDirs: true}
	layer := &layerState{added: map[string]bool{}, holding: map[string]bool{}}
	if err := extractEntries(ctx, r, w, &l.expanded, l.maxSize, "", layer); err != nil {
		return err
	}
	return w.finish()
}

// layerState is what one layer's application knows: the names it
// created, which its own whiteouts leave alone, and the directories
// holding them, which its whiteouts prune rather than remove.
type layerState struct {
	added map[string]bool
	// holding are the directories on the way to an added name ("a"
	// and "a/b" for "a/b/c"), whether the layer has an entry for them
	// or not: a whiteout of one removes only what the layers below put
	// there.
	holding map[string]bool
}

// add records name as created by this layer.
func (ls *layerState) add(name string) {
	ls.added[name] = true
	for d := path.Dir(name); d != "." && !ls.holding[d]; d = path.Dir(d) {
		ls.holding[d] = true
	}
}

// mine says whether name is, or holds, something this layer created.
func (ls *layerState) mine(name string) bool { return ls.added[name] || ls.holding[name] }

// whiteout takes hdr when it is a whiteout entry, applying it; handled
// is false for every other entry.
func (ls *layerState) whiteout(w *treeWriter, hdr *tar.Header) (handled bool, err error) {
	name, err := entryName(hdr.Name)
	if err != nil {
		return false, err // refused by tarNode with the same words
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	target, ok := strings.CutPrefix(base, whiteoutPrefix)
	switch {
	case !ok:
		return false, nil
	case base == whiteoutOpaque:
		return true, ls.opaque(w.root, dir)
	case strings.HasPrefix(base, whiteoutMeta):
		return true, nil
	case target == "" || target == "." || target == "..":
		return true, fmt.Errorf("a whiteout for %q names no entry", target)
	}
	victim := path.Join(dir, target)
	if ls.holding[victim] && isDir(w.root, victim) {
		// Entries of this layer are below it: they stay, the
		// layers below' go.
		return true, ls.opaque(w.root, victim)
	}
	if ls.added[victim] {
		return true, nil
	}
	return true, ls.remove(w.root, dir, victim)
}

// isDir says whether name is a directory, not following it.
func isDir(r *Root, name string) bool {
	st, err := r.Lstat(name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// remove deletes victim, of the layers below, keeping its directory's
// mtime unless this layer set it (the directory's own entry did): a
// whiteout changes what the directory holds, not when its image was made.
func (ls *layerState) remove(r *Root, dir, victim string) error {
	var mtime time.Time
	if dir != "" && !ls.added[dir] {
		st, err := r.Lstat(dir)
		if err == nil {
			mtime = time.Unix(st.Mtim.Unix())
		}
	}
	err := r.RemoveAll(victim)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing of that name below: nothing to hide
	}
	if err != nil || mtime.IsZero() {
		return err
	}
	parent, base, err := r.parent(dir, false)
	if err != nil {
		return err
	}
	defer parent.Close()
	return setMtime(int(parent.Fd()), base, mtime)
}

// opaque removes what the layers below put in dir: every entry of it,
// at any depth, that this layer did not create. A dir that is missing or
// not a directory (the layer's own entry replaces it) holds nothing to
// hide; a symlink there is not followed.
func (ls *layerState) opaque(r *Root, dir string) error {
	parent, base, err := r.parent(dir, false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	defer parent.Close()
	d, err := openDirBeneath(parent, base)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening /%s: %w", dir, err)
	}
	defer d.Close()
	return ls.prune(d, dir)
}

// prune removes the entries of the open directory d (dir in the image)
// that this layer did not create, and prunes the directories it created
// or holding what it created.
func (ls *layerState) prune(d *os.File, dir string) error {
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing /%s: %w", dir, err)
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if !ls.mine(p) {
			if err := removeAt(d, n, "/"+p); err != nil {
				return err
			}
			continue
		}
		sub, err := openDirBeneath(d, n)
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			continue // a file or symlink of this layer's
		}
		if err != nil {
			return fmt.Errorf("opening /%s: %w", p, err)
		}
		err = ls.prune(sub, p)
		if err = errors.Join(err, sub.Close()); err != nil {
			return err
		}
	}
	return nil
}

// openDirBeneath opens the directory base in dir, following no symlink
// and crossing no mount: ENOTDIR or ELOOP when base is not a directory.
func openDirBeneath(dir *os.File, base string) (*os.File, error) {
	if base == "." {
		fd, err := unix.Dup(int(dir.Fd()))
		if err != nil {
			return nil, err
		}
		unix.CloseOnExec(fd)
		return os.NewFile(uintptr(fd), dir.Name()), nil
	}
	fd, err := unix.Openat2(int(dir.Fd()), base, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err == unix.EXDEV {
		return nil, fmt.Errorf("%s is a mount point", base)
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), base)), nil
}

// removeDirAt removes base from dir when it is a directory, with what it
// holds, so that a non-directory can take its place.
func removeDirAt(dir *os.File, base, shown string) error {
	var st unix.Stat_t
	err := unix.Fstatat(int(dir.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT || err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	if err != nil {
		return err
	}
	return removeAt(dir, base, shown)
}
