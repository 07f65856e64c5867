package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/step"
)

// FormatVersion is part of every key: a builder whose snapshots or keys
// change bumps it, and old entries simply stop matching.
const FormatVersion = "builder-cache-2"

// The snapshot points: a build's steps fall into three groups, and the
// rootfs is kept after each. Grouping trades reuse for snapshot cost: a
// changed file re-runs only the files group, a changed package list the
// packages and files groups, a changed bootstrap everything.
const (
	GroupBootstrap = "bootstrap"
	GroupPackages  = "packages"
	GroupFiles     = "files"
)

// groupOf puts a recipe stage into its snapshot group.
func groupOf(s recipe.Stage) string {
	switch s {
	case recipe.StageBootstrap:
		return GroupBootstrap
	case recipe.StagePostBootstrap, recipe.StageRepositories, recipe.StagePackages, recipe.StagePostPackages:
		return GroupPackages
	}
	return GroupFiles
}

// Input is one resolved input of a group, kept for explaining misses:
// Name says what it is (`packages: install`, `run "x": script`), Values
// its value as the recipe has it, or a digest for contents.
type Input struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
	// List says Values is a list (diffs name the items gained and lost)
	// rather than one value.
	List bool `json:"list,omitempty"`
}

// Point is a snapshot point: the group, the index in the plan's enabled
// steps of its last step, its key and its inputs. Shared marks the point
// a recipe of several instance types has inside a group, after the last
// step all its types have alike (recipe.Plan.SharedSteps): the group's
// first part, which the second type restores from the first's snapshot.
type Point struct {
	Group  string  `json:"group"`
	Shared bool    `json:"shared,omitempty"`
	Last   int     `json:"last"`
	Key    string  `json:"key"`
	Inputs []Input `json:"inputs"`
}

// Name is how events and messages call the point: its group, with
// "-shared" for the first part of a group split where the instance
// types' steps part ("packages-shared").
func (p Point) Name() string {
	if p.Shared {
		return p.Group + "-shared"
	}
	return p.Group
}

// Points computes the snapshot points of a plan: one after each group,
// and for a plan of a recipe with several instance types, one more
// after its shared steps when they end inside a group, so that the
// steps the types have in common run once (the second type's group
// would otherwise differ as a whole, and only its bootstrap be shared).
// Each key is the sha256 of the format version, the previous point's
// key and the group's (or the part's) resolved inputs: block values,
// the contents, modes and owners of the host files the steps read,
// scripts, the environment and the SOURCE_DATE_EPOCH the build's
// commands see (empty: none). The bootstrap group also hashes the
// architecture. A part's key is a group's key over the part's steps:
// the rootfs after them is the same whichever plan they are in.
func Points(plan *recipe.Plan, sourceDateEpoch string) ([]Point, error) {
	steps := plan.EnabledSteps()
	secrets := events.NewMasker(plan.Secrets()...)
	lastShared := plan.SharedSteps - 1 // -1: no split
	var points []Point
	prev := ""
	for i := 0; i < len(steps); {
		group := groupOf(steps[i].Stage)
		end := i
		for end < len(steps) && groupOf(steps[end].Stage) == group {
			end++
		}
		shared := i <= lastShared && lastShared < end-1
		if shared {
			end = lastShared + 1
		}
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", FormatVersion, prev, group)
		var inputs []Input
		if group == GroupBootstrap {
			arch := plan.Image.Architecture.Distribution
			fmt.Fprintf(h, "arch\x00%s\x00", arch)
			inputs = append(inputs, Input{Name: "architecture", Values: []string{arch}})
		}
		env := envInputs(plan.Environment, secrets)
		if sourceDateEpoch != "" {
			env = append(env, Input{Name: "SOURCE_DATE_EPOCH", Values: []string{sourceDateEpoch}})
		}
		for _, in := range env {
			hashInput(h, in)
		}
		inputs = append(inputs, env...)
		j := i
		for ; j < end; j++ {
			stepInputs, err := inputsOf(steps[j], secrets)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(h, "step\x00%s\x00%s\x00", steps[j].Kind, steps[j].Name)
			for _, in := range stepInputs {
				hashInput(h, in)
			}
			inputs = append(inputs, stepInputs...)
		}
		key := hex.EncodeToString(h.Sum(nil))
		points = append(points, Point{Group: group, Shared: shared, Last: j - 1, Key: key, Inputs: inputs})
		prev, i = key, j
	}
	return points, nil
}

func hashInput(w io.Writer, in Input) {
	fmt.Fprintf(w, "%s\x00%d\x00", in.Name, len(in.Values))
	for _, v := range in.Values {
		fmt.Fprintf(w, "%d\x00%s", len(v), v)
	}
}

func envInputs(vars []recipe.EnvVar, secrets *events.Masker) []Input {
	var out []Input
	for _, v := range vars {
		value := v.Value
		if v.Sensitive || secrets.Mask(value) != value {
			value = digestText(v.Value)
		}
		out = append(out, Input{Name: "environment " + v.Name, Values: []string{value}})
	}
	return out
}

// inputsOf lists a step's inputs: its action's fields, sorted by name,
// then the contents of the host files it reads. Sensitive attributes
// enter as digests, and so does any value holding a secret's text (a
// script that prints nonsensitive(var.token), say): the history in the
// cache directory and the explanations made from it keep digests only.
func inputsOf(s recipe.Step, secrets *events.Masker) ([]Input, error) {
	header := s.Kind
	if s.Name != "" {
		header = fmt.Sprintf("%s %q", s.Kind, s.Name)
	}
	fields := step.Mask(s.Action.Fields(), step.Masking{
		Sensitive:   s.Sensitive,
		HoldsSecret: func(text string) bool { return secrets.Mask(text) != text },
		Replace:     digestValue,
	})
	slices.SortStableFunc(fields, func(a, b step.Field) int { return strings.Compare(a.Name, b.Name) })
	var inputs []Input
	for _, f := range fields {
		in := Input{Name: header + ": " + f.Name}
		in.Values, in.List = texts(f.Value)
		inputs = append(inputs, in)
	}
	// Contents the action only names: host files and trees, whose
	// bytes can change under the same path.
	for _, path := range s.Action.HostInputs() {
		digest, err := TreeDigest(path)
		if err != nil {
			return nil, fmt.Errorf("computing the cache key of %s: %w", header, err)
		}
		inputs = append(inputs, Input{Name: header + ": contents of " + path, Values: []string{digest}})
	}
	return inputs, nil
}

// texts is a value as the key hashes it: a list item by item, anything
// else as one text.
func texts(v step.Value) (values []string, list bool) {
	items, list := v.(step.List)
	if !list || items == nil {
		return []string{v.String()}, false
	}
	for _, item := range items {
		values = append(values, item.String())
	}
	return values, true
}

// digestValue masks a value with the digest of its text, item by item
// for a list.
func digestValue(v step.Value) step.Value {
	values, list := texts(v)
	if !list {
		return step.Text(digestText(values[0]))
	}
	out := make(step.List, len(values))
	for i, text := range values {
		out[i] = step.Text(digestText(text))
	}
	return out
}

func digestText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// TreeDigest hashes a host file, or a directory tree: every entry's
// relative name, type, mode, owner, size and contents (symlinks by
// target), in sorted order. Times are left out: touching a file does not
// change the image.
func TreeDigest(path string) (string, error) {
	h := sha256.New()
	// A symlink given as the source is followed by the build (see
	// confined.CopyIn), so hash what it leads to; links below it are
	// copied as links and hashed by target.
	top, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(top, p)
		fmt.Fprintf(h, "%s\x00%o\x00%s\x00", rel, uint32(info.Mode()), ownerOf(info))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "->%s\x00", target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			fmt.Fprintf(h, "%d\x00", info.Size())
			if _, err := io.Copy(h, f); err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

func ownerOf(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	return ""
}
