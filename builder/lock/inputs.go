package lock

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/recipe"
)

// KeyOf is the block a plan's build is locked in.
func KeyOf(plan *recipe.Plan) Key {
	return Key{Architecture: plan.Image.Architecture.Distribution, Variant: plan.Image.Variant, InstanceType: plan.InstanceType}
}

// Inputs are the files a plan's build reads besides the archive, by the
// digest the stage cache keys them with: every enabled step's host
// inputs (keyrings, tarballs, copied files and trees, repository keys),
// the archive keyring debootstrap or mmdebstrap use when the recipe
// names none, and a downloaded tarball by the sha256 the recipe pins
// (a downloaded keyring is pinned by the recipe's fingerprints).
func Inputs(plan *recipe.Plan) ([]Input, error) {
	var inputs []Input
	var errs []error
	add := func(step, path string) {
		digest, err := cache.TreeDigest(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("the input %s of %s: %w", path, step, err))
			return
		}
		inputs = append(inputs, Input{Path: relPath(plan.Dir, path), Step: step, Digest: digest})
	}
	for _, s := range plan.EnabledSteps() {
		header := s.Kind
		if s.Name != "" {
			header = fmt.Sprintf("%s %q", s.Kind, s.Name)
		}
		for _, path := range s.Action.HostInputs() {
			add(header, path)
		}
		b, ok := s.Action.(*bootstrap.Config)
		if !ok {
			continue
		}
		if b.Keyring == "" {
			if k := bootstrap.DefaultArchiveKeyring(b, plan.Image.Distribution, ""); k != "" {
				add(header, k)
			}
		}
		if strings.HasPrefix(b.Source, "https://") && b.SHA256 != "" {
			inputs = append(inputs, Input{Path: b.Source, Step: header, Digest: "sha256:" + strings.ToLower(b.SHA256)})
		}
	}
	return inputs, errors.Join(errs...)
}

// relPath is path relative to the recipe's directory when inside it, so
// that a lock holds on every checkout; absolute otherwise (a host
// keyring).
func relPath(dir, path string) string {
	full, err := filepath.Abs(path)
	if dir == "" || err != nil {
		return path
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return full
	}
	rel, err := filepath.Rel(abs, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return full
	}
	return rel
}

// CheckInputs compares a build's inputs with the locked ones and says
// each that differs, is new, or is gone.
func CheckInputs(locked, current []Input) error {
	type id struct{ path, step string }
	want := map[id]string{}
	for _, in := range locked {
		want[id{in.Path, in.Step}] = in.Digest
	}
	var errs []error
	for _, in := range current {
		k := id{in.Path, in.Step}
		digest, ok := want[k]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("input %s (%s) is not in the lock", in.Path, in.Step))
		case digest != in.Digest:
			errs = append(errs, fmt.Errorf("input %s (%s) has digest %s, the lock %s", in.Path, in.Step, in.Digest, digest))
		}
		delete(want, k)
	}
	for _, in := range locked {
		if _, ok := want[id{in.Path, in.Step}]; ok {
			errs = append(errs, fmt.Errorf("input %s (%s) is in the lock but the build no longer reads it", in.Path, in.Step))
		}
	}
	return errors.Join(errs...)
}
