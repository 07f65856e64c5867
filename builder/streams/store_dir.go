package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// DirStore is a tree in a local directory.
type DirStore struct {
	root string
}

// NewDirStore opens the tree at dir, creating the directory when create
// is set.
func NewDirStore(dir string, create bool) (*DirStore, error) {
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating tree %s: %w", dir, err)
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("opening tree: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("opening tree %s: not a directory", dir)
	}
	return &DirStore{root: dir}, nil
}

func (d *DirStore) String() string { return d.root }

// path checks that name is a clean relative path and joins it to the root.
func (d *DirStore) path(name string) (string, error) {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("%q is not a path inside the tree %s", name, d.root)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d *DirStore) Stat(_ context.Context, name string) (int64, error) {
	p, err := d.path(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", p)
	}
	return st.Size(), nil
}

func (d *DirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// ReadIndex tags a file with its sha256: under the lock nothing else
// writes it, and the tag makes WriteIndex's check the same as S3's.
func (d *DirStore) ReadIndex(_ context.Context, name string) ([]byte, string, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, "", err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// WriteIndex writes a temporary file, fsyncs it and renames it over name,
// so readers (and a crash) see the old file or the new one, whole.
func (d *DirStore) WriteIndex(ctx context.Context, name string, data []byte, tag string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	_, cur, err := d.ReadIndex(ctx, name)
	switch {
	case isNotExist(err):
		cur = ""
	case err != nil:
		return err
	}
	if cur != tag {
		return fmt.Errorf("writing %s: %w", p, ErrConflict)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return image.WriteFileAtomic(p, data, 0o644)
}

// PutFile writes to a temporary file beside name and renames it into
// place only after check passed, so name only ever holds checked bytes.
func (d *DirStore) PutFile(_ context.Context, name string, r io.Reader, size int64, check func() error) (err error) {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	n, err := io.Copy(f, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if n != size {
		return fmt.Errorf("writing %s: read %d bytes, expected %d", p, n, size)
	}
	if err := check(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing: %w", p, err)
	}
	cerr := f.Close()
	f = nil
	if cerr != nil {
		return fmt.Errorf("writing %s: closing: %w", p, cerr)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return syncDir(filepath.Dir(p))
}

func (d *DirStore) Remove(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List skips names starting with ".": temporary files and the lock.
func (d *DirStore) List(_ context.Context, dir string) ([]string, error) {
	p, err := d.path(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	err = filepath.WalkDir(p, func(fp string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && fp == p {
				return fs.SkipAll
			}
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && fp != p {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(d.root, fp)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", p, err)
	}
	sort.Strings(names)
	return names, nil
}

// Lock takes flock(2) on the lock file in the tree root. The kernel drops
// the lock when the process dies, so a crashed publisher never leaves a
// stale one. flock is polled without blocking so that ctx can end the
// wait. The owner is written into the file for whoever wonders who holds
// it.
func (d *DirStore) Lock(ctx context.Context, owner string) (func() error, error) {
	p := filepath.Join(d.root, LockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking tree %s: %w", d.root, err)
	}
	err = pollLock(ctx, func() (bool, error) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
			return false, nil
		}
		return false, err
	})
	if err != nil {
		cerr := f.Close()
		return nil, errors.Join(fmt.Errorf("locking tree %s: %w", d.root, err), cerr)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(owner+"\n"), 0) // informational only
	}
	return func() error {
		uerr := unix.Flock(int(f.Fd()), unix.LOCK_UN)
		if err := errors.Join(uerr, f.Close()); err != nil {
			return fmt.Errorf("unlocking tree %s: %w", d.root, err)
		}
		return nil
	}, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) (err error) {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
