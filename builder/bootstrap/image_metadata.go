package bootstrap

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
)

// Bounds on a base image's metadata, which builder reads in its own
// process (nothing of it is written to disk): LXD reads no more of
// metadata.yaml, and templates are small text files.
const (
	maxBaseTemplate  = 1 << 20
	maxBaseTemplates = 16 << 20 // names and contents of templates/
	// maxBaseTemplateFiles bounds the files under templates/: an image
	// has a few, and each costs builder memory beside its bytes.
	maxBaseTemplateFiles = 1024
)

// baseMetadata is what a base image's metadata tarball (or the start of
// a unified one) offers the recipe.
type baseMetadata struct {
	Architecture string
	Properties   map[string]string
	Templates    []BaseTemplate
}

// readBaseMetadata reads metadata.yaml and the templates it names from
// r, a metadata tarball in any compression tar takes, or a unified
// image, of which it reads up to the rootfs/ entries once metadata.yaml
// and the templates are in (distrobuilder and builder write them first).
// name names r in errors.
func readBaseMetadata(r io.Reader, name string) (baseMetadata, error) {
	stream, err := confined.Decompress(r, name)
	if err != nil {
		return baseMetadata{}, err
	}
	defer stream.Close()
	var md *image.Metadata
	files := map[string]string{}
	total := 0
	tr := tar.NewReader(stream)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return baseMetadata{}, fmt.Errorf("reading the metadata of %s: %w", name, err)
		}
		entry := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg {
			if (entry == "rootfs" || strings.HasPrefix(entry, "rootfs/")) && md != nil && allTemplates(md, files) {
				return metadataOf(md, files, name)
			}
			continue
		}
		switch {
		case entry == "metadata.yaml":
			data, err := readBounded(tr, image.MaxMetadataSize, entry)
			if err != nil {
				return baseMetadata{}, fmt.Errorf("reading the metadata of %s: %w", name, err)
			}
			md = &image.Metadata{}
			if err := yaml.Unmarshal(data, md); err != nil {
				return baseMetadata{}, fmt.Errorf("reading the metadata of %s: metadata.yaml: %w", name, err)
			}
		case strings.HasPrefix(entry, "templates/") && !strings.Contains(strings.TrimPrefix(entry, "templates/"), "/"):
			data, err := readBounded(tr, maxBaseTemplate, entry)
			if err != nil {
				return baseMetadata{}, fmt.Errorf("reading the metadata of %s: %w", name, err)
			}
			file := strings.TrimPrefix(entry, "templates/")
			if _, ok := files[file]; !ok && len(files) == maxBaseTemplateFiles {
				return baseMetadata{}, fmt.Errorf("reading the metadata of %s: it has more than %d files under templates/", name, maxBaseTemplateFiles)
			}
			if total += len(file) + len(data); total > maxBaseTemplates {
				return baseMetadata{}, fmt.Errorf("reading the metadata of %s: its templates exceed %s", name, confined.FormatSize(maxBaseTemplates))
			}
			files[file] = string(data)
		case strings.HasPrefix(entry, "rootfs/") && md != nil && allTemplates(md, files):
			return metadataOf(md, files, name)
		}
	}
	if md == nil {
		return baseMetadata{}, fmt.Errorf("reading the metadata of %s: it has no metadata.yaml", name)
	}
	return metadataOf(md, files, name)
}

func allTemplates(md *image.Metadata, files map[string]string) bool {
	for _, t := range md.Templates {
		if _, ok := files[t.Template]; !ok {
			return false
		}
	}
	return true
}

func metadataOf(md *image.Metadata, files map[string]string, name string) (baseMetadata, error) {
	out := baseMetadata{Architecture: md.Architecture, Properties: maps.Clone(md.Properties)}
	for _, p := range slices.Sorted(maps.Keys(md.Templates)) {
		t := md.Templates[p]
		content, ok := files[t.Template]
		if !ok {
			return baseMetadata{}, fmt.Errorf("reading the metadata of %s: the template for %s names templates/%s, which it does not hold", name, p, t.Template)
		}
		out.Templates = append(out.Templates, BaseTemplate{Path: p, Name: t.Template, Content: content, When: t.When,
			CreateOnly: t.CreateOnly, Properties: t.Properties, UID: t.UID, GID: t.GID, Mode: t.Mode})
	}
	return out, nil
}

// readBounded reads all of r, refusing more than max bytes.
func readBounded(r io.Reader, max int64, what string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %s", what, confined.FormatSize(max))
	}
	return data, nil
}
