package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// A build records where its work directory is (workdirs/ID, holding the
// path), and forgets it when done, so that 'builder cache prune' can find
// the work directories of killed builds wherever their outputs were.
// What is recorded is untrusted like the rest of the cache: the caller
// removes a recorded path only when the directory there proves to be a
// stale work directory (build.RemoveStaleWorkDir).

// workDirEntry is the registry file of the work directory path.
func workDirEntry(path string) string {
	sum := sha256.Sum256([]byte(path))
	return "workdirs/" + hex.EncodeToString(sum[:])
}

// RecordWorkDir notes the absolute path of a build's work directory.
func (c *Cache) RecordWorkDir(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("recording the work directory %q: not a clean absolute path", path)
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	f, tmp, err := createTemp(r, "workdir-*")
	if err != nil {
		return fmt.Errorf("recording the work directory %s: %w", path, err)
	}
	_, err = f.WriteString(path + "\n")
	if err := errors.Join(err, f.Close()); err != nil {
		_ = r.Remove(tmp)
		return fmt.Errorf("recording the work directory %s: %w", path, err)
	}
	if err := c.replaceWith(r, tmp, workDirEntry(path)); err != nil {
		_ = r.Remove(tmp)
		return fmt.Errorf("recording the work directory %s: %w", path, err)
	}
	return nil
}

// ForgetWorkDir removes the record of a work directory.
func (c *Cache) ForgetWorkDir(path string) error {
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.RemoveAll(workDirEntry(path)); err != nil {
		return fmt.Errorf("forgetting the work directory %s: %w", path, err)
	}
	return nil
}

// WorkDirs lists the recorded work directories. A record that is not
// one builder writes (its name not the digest of a clean absolute path
// it holds) is damage: reported, removed and not listed.
func (c *Cache) WorkDirs() ([]string, error) {
	r, err := c.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	names, err := readDir(r, "workdirs")
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, name := range names {
		entry := "workdirs/" + name
		data, err := readRegular(r, entry)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		path, _ := strings.CutSuffix(string(data), "\n")
		var d Damage
		switch {
		case errors.As(err, &d):
		case err != nil:
			return nil, err
		case !validKey(name):
			d = Damage{Entry: "workdirs/" + shown(name), Problem: "its name is not a key"}
		case !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.ContainsAny(path, "\n\x00"):
			d = Damage{Entry: entry, Problem: "it does not hold a clean absolute path"}
		case workDirEntry(path) != entry:
			d = Damage{Entry: entry, Problem: "its name is not the digest of the path it holds"}
		default:
			paths = append(paths, path)
			continue
		}
		if err := r.RemoveAll(entry); err != nil {
			return nil, fmt.Errorf("removing the damaged cache entry %s: %w", d.Entry, err)
		}
		c.report(d)
	}
	return paths, nil
}
