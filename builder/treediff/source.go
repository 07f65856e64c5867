// Package treediff compares two image root filesystems entry by entry
// and says, for each path that differs, what differs: content, mode,
// owner, mtime, xattr, symlink target, hard link, device numbers or the
// file type. `builder repro` uses it to explain two builds that should
// have been identical, `builder diff` to show how two images differ
// beyond their packages.
//
// Start with Open: it names a tree (a directory, a tar archive plain or
// compressed as builder writes them, a squashfs, a unified image or an
// output directory) without reading it. Read turns a Source into a Tree,
// every node with its sha256; Compare reads two and diffs them
// (CompareTrees). Every source is read as one tar stream, so there is a
// single reader (read.go): a directory through pack's tree walk (the
// same walk that packs an image, which opens each entry relative to its
// parent without following symlinks, so a hostile tree cannot lead it
// outside), a squashfs through sqfs2tar (squashfs-tools-ng), an archive
// through confined.OpenArchive. Nothing is ever extracted.
package treediff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
)

// Source kinds, as Source.Kind names them.
const (
	KindDirectory = "directory"
	KindArchive   = "archive"
	KindSquashfs  = "squashfs"
)

// unifiedRootfs is where a unified image keeps its root filesystem.
const unifiedRootfs = "rootfs/"

// Source is a tree to read: what Open found at a path. It holds nothing
// open; Read opens it.
type Source struct {
	// Path is the file or directory read.
	Path string
	// Kind is KindDirectory, KindArchive or KindSquashfs.
	Kind string
	// Prefix, when set, keeps only the entries below it, re-rooted: a
	// unified image's "rootfs/".
	Prefix string
}

// String names the source in messages: the path, and the part of it
// read when that is not all of it.
func (s Source) String() string {
	if s.Prefix != "" {
		return s.Path + " (" + s.Prefix + ")"
	}
	return s.Path
}

// Open names the tree at path without reading it:
//   - an output directory (it has image.json): the image's root
//     filesystem, as OpenRootfs;
//   - any other directory: the tree below it;
//   - a squashfs file;
//   - a tar archive, plain or compressed with gzip, xz, zstd or bzip2,
//     whole: a unified image's metadata.yaml and templates/ too, its
//     root filesystem under /rootfs.
func Open(path string) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Source{}, fmt.Errorf("opening tree: %w", err)
	}
	if st.IsDir() {
		if _, err := os.Lstat(filepath.Join(path, image.ImageJSONName)); err == nil {
			return OpenRootfs(path)
		}
		return Source{Path: path, Kind: KindDirectory}, nil
	}
	return openFile(path)
}

// OpenRootfs names the root filesystem of the image in the output
// directory dir: a split image's rootfs file, or the rootfs/ entries of
// a unified image's tarball. A virtual machine's disk is refused: its
// filesystem is inside a qcow2, which treediff does not read.
func OpenRootfs(dir string) (Source, error) {
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		return Source{}, err
	}
	for _, f := range j.Files {
		p := filepath.Join(dir, f.Name)
		switch f.Role {
		case image.RoleRootfs:
			return openFile(p)
		case image.RoleUnified:
			if j.Type == image.TypeVM {
				return Source{}, fmt.Errorf("%s: a unified virtual-machine image holds a disk, not a tree; treediff reads no qcow2", p)
			}
			s, err := openFile(p)
			s.Prefix = unifiedRootfs
			return s, err
		case image.RoleDisk:
			return Source{}, fmt.Errorf("%s: a virtual-machine image's root filesystem is inside its disk; treediff reads no qcow2", p)
		}
	}
	return Source{}, fmt.Errorf("%s: image.json lists no root filesystem", dir)
}

// squashfsMagic starts every squashfs superblock ("hsqs", little-endian).
var squashfsMagic = []byte("hsqs")

// openFile names a squashfs or an archive, by its first bytes.
func openFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return Source{}, fmt.Errorf("opening tree: %w", err)
	}
	head := make([]byte, len(squashfsMagic))
	_, rerr := io.ReadFull(f, head)
	if err := f.Close(); err != nil {
		return Source{}, fmt.Errorf("opening tree %s: %w", path, err)
	}
	if rerr == nil && bytes.Equal(head, squashfsMagic) {
		return Source{Path: path, Kind: KindSquashfs}, nil
	}
	// OpenArchive reads the header only: an unknown format fails here,
	// before any reading starts.
	a, err := confined.OpenArchive(path)
	if err != nil {
		return Source{}, fmt.Errorf("opening tree: %w", err)
	}
	if err := a.Close(); err != nil {
		return Source{}, fmt.Errorf("opening tree %s: %w", path, err)
	}
	return Source{Path: path, Kind: KindArchive}, nil
}

// Stream opens the source as one tar stream (a squashfs as sqfs2tar
// writes it, an archive decompressed), for a reader other than Read:
// the image bootstrap extracts a base image's root filesystem from it.
// Closing it stops whatever produces it; read to the end first, Close
// reports how the producer ended. Prefix is the reader's to apply.
func (s Source) Stream(ctx context.Context) (io.ReadCloser, error) {
	switch s.Kind {
	case KindDirectory:
		return dirStream(ctx, s.Path), nil
	case KindSquashfs:
		return squashfsStream(ctx, s.Path)
	case KindArchive:
		a, err := confined.OpenArchive(s.Path)
		if err != nil {
			return nil, fmt.Errorf("reading tree: %w", err)
		}
		return a, nil
	}
	return nil, fmt.Errorf("%s: unknown source kind %q", s.Path, s.Kind)
}

// pipeStream is a tar stream that a goroutine or a process writes.
type pipeStream struct {
	pr   *io.PipeReader
	eof  bool
	done <-chan error
	stop func()
}

func (p *pipeStream) Read(b []byte) (int, error) {
	n, err := p.pr.Read(b)
	if err == io.EOF {
		p.eof = true
	}
	return n, err
}

// Close waits for the producer. Read to the end, the stream's error is
// the producer's: a walk or a sqfs2tar that failed. Closed early (the
// reader failed, or its context ended), the producer is stopped, and
// its error, which the stop caused, is not the one to report.
func (p *pipeStream) Close() error {
	if !p.eof {
		p.stop()
		p.pr.Close()
		<-p.done
		return nil
	}
	err := <-p.done
	p.stop()
	return err
}

// dirStream is the tree at root as pack writes it into a split rootfs
// tarball: the same walk, the same header rules (whole-second times, the
// xattrs images keep), so a directory compares with an image of it.
func dirStream(ctx context.Context, root string) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := pack.WriteTree(ctx, pw, root, pack.TarOptions{})
		pw.CloseWithError(err)
		done <- err
	}()
	return &pipeStream{pr: pr, done: done, stop: cancel}
}

// squashfsStream runs sqfs2tar on path. --root-becomes . keeps the root
// directory's own mode, owner and time (as "./", the entry a split
// rootfs tarball has); --no-skip fails on a file tar cannot hold rather
// than leaving it out of the comparison.
func squashfsStream(ctx context.Context, path string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	var stderr pack.Tail
	cmd := exec.CommandContext(ctx, "sqfs2tar", "--root-becomes", ".", "--no-skip", path)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout, cmd.Stderr = pw, &stderr
	done := make(chan error, 1)
	started := make(chan error, 1)
	go func() {
		// sqfs2tar dies with builder (Pdeathsig is tied to the thread
		// that started it, so this goroutine keeps its thread).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			if errors.Is(err, exec.ErrNotFound) {
				err = fmt.Errorf("reading %s: sqfs2tar is not installed (apt-get install squashfs-tools-ng): %w", path, err)
			} else {
				err = fmt.Errorf("reading %s: %w", path, err)
			}
			pw.CloseWithError(err)
			started <- err
			done <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("sqfs2tar %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
		}
		pw.CloseWithError(err)
		done <- err
	}()
	if err := <-started; err != nil {
		cancel()
		return nil, err
	}
	return &pipeStream{pr: pr, done: done, stop: cancel}, nil
}
