package output

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// Kind is one output type of the output block: which image files it
// writes and how.
type Kind interface {
	// Name is the output block's type, such as "split".
	Name() string
	// ImageType is the type image.json records.
	ImageType() string
	// FileNames are the image files Write writes for plan, besides
	// SHA256SUMS and image.json, in the order Write writes them.
	FileNames(plan *recipe.Plan) []string
	// Write writes the image files into w's staging directory and
	// returns what it wrote: the files in that order, over which LXD's
	// fingerprint is computed, and what else image.json records.
	Write(ctx context.Context, w *Writer) (Written, error)
}

// Written is what a kind's Write wrote.
type Written struct {
	// Files are the image files, in fingerprint order.
	Files []image.FileInfo
	// Disk is a VM image's disk record; nil for a container image.
	Disk *image.Disk
}

// kinds are the output kinds by name; the recipe's output rules
// (recipe.Output.Merge) accept exactly these names.
var kinds = []Kind{split{}, unified{}, vm{}}

// KindOf is the kind an output is written by: the one its type names,
// in the unified form for a vm output with VM.Unified.
func KindOf(out recipe.Output) (Kind, error) {
	if out.Type == recipe.OutputVM && out.VM.Unified {
		return vm{unified: true}, nil
	}
	for _, k := range kinds {
		if k.Name() == out.Type {
			return k, nil
		}
	}
	return nil, fmt.Errorf("there is no output type %q", out.Type)
}

// Writer is what a kind writes an image from, into the staging
// directory Dir: the plan, the rootfs tree or a reused rootfs file, the
// metadata tarball's entries. Its methods report each file on the log
// as Pack always has.
type Writer struct {
	Plan *recipe.Plan
	// Dir is the staging directory the files go into.
	Dir    string
	Rootfs string
	// Metadata are metadata.yaml and the templates, as tar entries.
	Metadata []pack.FileEntry
	// Tar are the tar options every archive shares.
	Tar pack.TarOptions
	// Reuse, when set, is a rootfs file packed earlier (see
	// PackOptions.Reuse) a kind may copy instead of packing Rootfs.
	Reuse *ReusedRootfs
	// Created is the image's creation time (metadata.yaml's).
	Created time.Time
	// Epoch and Threads as in PackOptions.
	Epoch   *time.Time
	Threads int
	// scratch makes a directory for temporary files on the output's
	// filesystem and returns it with the function that removes it.
	scratch func() (string, func() error, error)
	log     io.Writer
	tty     bool
}

// ScratchDir makes a directory for temporary files beside the staging
// directory (see image.Staging.ScratchDir); the kind calls remove on
// every path.
func (w *Writer) ScratchDir() (dir string, remove func() error, err error) {
	if w.scratch == nil {
		return "", nil, fmt.Errorf("no scratch space for the image of %s", w.Dir)
	}
	return w.scratch()
}

// Logf writes a progress line.
func (w *Writer) Logf(format string, args ...any) {
	if w.log != nil {
		fmt.Fprintf(w.log, format, args...)
	}
}

// TarExt is the extension of a tarball with the plan's compression:
// ".tar.xz".
func (w *Writer) TarExt() string {
	return ".tar" + w.Plan.Output.Compression.Algorithm.Extension
}

// Compressed writes the file name with the plan's compression, fed by
// write, showing its progress, and records it with role.
func (w *Writer) Compressed(ctx context.Context, name string, role image.Role, write func(io.Writer) error) (image.FileInfo, error) {
	w.Logf("==> packing %s (%s)\n", name, w.Plan.Output.Compression)
	prog := StartProgress(w.log, w.tty, name, "archived")
	info, err := pack.WriteCompressed(ctx, filepath.Join(w.Dir, name), w.Plan.Output.Compression, w.Threads, func(out io.Writer) error {
		return write(prog.Wrap(out))
	})
	prog.Stop()
	if err != nil {
		return image.FileInfo{}, err
	}
	return w.Record(info, role), nil
}

// Record reports a written file on the log and returns it as image.json
// lists it.
func (w *Writer) Record(info pack.FileInfo, role image.Role) image.FileInfo {
	w.Logf("    %s  %s  %s\n", info.Name, HumanSize(info.Size), info.SHA256)
	return image.FileInfo{Name: info.Name, Role: role, SHA256: info.SHA256, Size: info.Size}
}
