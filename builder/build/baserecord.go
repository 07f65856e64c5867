package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

// A rootfs that `builder rootfs` built on an existing image (bootstrap
// "image", "oci") is packed later by `builder pack`, when the alias or
// tag may name another image, or the source may be gone. The rootfs
// command therefore records the base it built on beside the rootfs
// (DIR.builder-base.json: not in it, where pack would archive it), with
// the metadata the bootstrap checked against the base's fingerprint, and
// pack uses that record instead of asking the source again.

// baseRecordSuffix names the record beside a rootfs directory.
const baseRecordSuffix = ".builder-base.json"

// BaseRecordPath is where the record of the rootfs at dir is kept.
func BaseRecordPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	return filepath.Clean(abs) + baseRecordSuffix, nil
}

// baseRecord is the record: the bootstrap block's source as the recipe
// named it, the base it resolved to, and which directory it describes.
type baseRecord struct {
	Source baseSource      `json:"source"`
	Base   *bootstrap.Base `json:"base"`
	// Dev and Ino are the rootfs directory's: a directory removed and
	// made again by other means is not the one recorded.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// baseSource is what of a bootstrap block names its base; what becomes
// of the base's metadata is pack's to decide and may change, and so may
// the pin (a pin added after the rootfs was built must name its base).
type baseSource struct {
	Backend string `json:"backend"`
	Daemon  string `json:"daemon,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Server  string `json:"server,omitempty"`
	Alias   string `json:"alias,omitempty"`
	Variant string `json:"variant,omitempty"`
	Image   string `json:"image,omitempty"`
	Layout  string `json:"layout,omitempty"`
}

func sourceOf(cfg *bootstrap.Config) baseSource {
	return baseSource{Backend: cfg.Backend, Daemon: cfg.Daemon, Remote: cfg.Remote, Server: cfg.Server, Alias: cfg.Alias,
		Variant: cfg.Variant, Image: cfg.Image, Layout: cfg.Layout}
}

func dirID(dir string) (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", dir, err)
	}
	return uint64(st.Dev), st.Ino, nil
}

// RemoveBaseRecord removes the record of the rootfs at dir, if any: a
// rootfs built again, or not built, is described by no earlier record.
func RemoveBaseRecord(dir string) error {
	path, err := BaseRecordPath(dir)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the record of an earlier rootfs: %w", err)
	}
	return nil
}

// WriteBaseRecord records the base plan's rootfs, built into dir, was
// built on; a plan that starts from no existing image leaves no record.
func WriteBaseRecord(dir string, plan *recipe.Plan) error {
	if err := RemoveBaseRecord(dir); err != nil {
		return err
	}
	cfg := plan.Bootstrap()
	if cfg == nil || cfg.Base == nil {
		return nil
	}
	path, _ := BaseRecordPath(dir)
	dev, ino, err := dirID(dir)
	if err != nil {
		return fmt.Errorf("recording the base of %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(baseRecord{Source: sourceOf(cfg), Base: cfg.Base, Dev: dev, Ino: ino}, "", "  ")
	if err != nil {
		return fmt.Errorf("recording the base of %s: %w", dir, err)
	}
	if err := image.WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("recording the base of %s: %w", dir, err)
	}
	return nil
}

// UseBaseRecord gives the plans the base the rootfs at dir was built on,
// as `builder rootfs` recorded it, so that ResolveBases merges its
// metadata without asking the source again. The plans' bootstrap block
// must name its base as the one the rootfs was built from did: packing
// with another recipe fails rather than record a base the rootfs is not
// built on. Without a record, log hears that the base is resolved anew.
func UseBaseRecord(dir string, plans []*recipe.Plan, log io.Writer) error {
	path, err := BaseRecordPath(dir)
	if err != nil {
		return err
	}
	rec, err := readBaseRecord(path, dir)
	if err != nil || rec == nil {
		if err == nil && log != nil && resolves(plans) {
			fmt.Fprintf(log, "builder: %s has no record of the base it was built on (builder rootfs writes %s): packing on the base the recipe's bootstrap block names now\n",
				dir, filepath.Base(path))
		}
		return err
	}
	for _, plan := range plans {
		cfg := plan.Bootstrap()
		if cfg == nil {
			continue
		}
		if got := sourceOf(cfg); got != rec.Source {
			want, _ := json.Marshal(rec.Source)
			have, _ := json.Marshal(got)
			return fmt.Errorf("the rootfs %s was built on base %s from bootstrap %s, and the recipe's bootstrap block is now %s: pack it with the recipe it was built from, or build the rootfs again",
				dir, rec.Base.Fingerprint, want, have)
		}
		if cfg.Fingerprint != "" && cfg.Fingerprint != rec.Base.Fingerprint {
			return &bootstrap.PinError{What: "fingerprint", Name: "the base of the rootfs " + dir, Source: rec.Base.Source,
				Want: cfg.Fingerprint, Got: rec.Base.Fingerprint}
		}
		cfg.Base = rec.Base
	}
	return nil
}

// readBaseRecord reads the record at path of the rootfs at dir; nil
// when there is none, or it is of another directory by that name (one
// removed and made again).
func readBaseRecord(path, dir string) (*baseRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the base the rootfs was built on: %w", err)
	}
	var rec baseRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Base == nil {
		return nil, fmt.Errorf("reading the base the rootfs was built on: %s is not builder's record of a base", path)
	}
	if dev, ino, err := dirID(dir); err != nil || dev != rec.Dev || ino != rec.Ino {
		return nil, nil
	}
	return &rec, nil
}

// resolves says whether the plans start from an existing image that
// resolving names.
func resolves(plans []*recipe.Plan) bool {
	for _, plan := range plans {
		if cfg := plan.Bootstrap(); cfg != nil && cfg.Base == nil {
			if backend, err := bootstrap.Lookup(cfg.Backend); err == nil {
				if _, ok := backend.(bootstrap.Resolver); ok {
					return true
				}
			}
		}
	}
	return false
}
