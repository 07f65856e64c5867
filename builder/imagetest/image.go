package imagetest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
)

// Image is an output directory under test.
type Image struct {
	// Dir is the output directory.
	Dir  string
	JSON image.ImageJSON
	// Metadata is the image's metadata.yaml: its templates decide the
	// hostname check, its properties the qemu backend's.
	Metadata image.Metadata
	// Tests are the recipe's test blocks (image.json's).
	Tests []image.Test
}

// Name is the image's name for people: image.json's, else the
// directory's.
func (img *Image) Name() string {
	if img.JSON.Name != "" {
		return img.JSON.Name
	}
	return filepath.Base(filepath.Clean(img.Dir))
}

// InstanceType is image.InstanceContainer or image.InstanceVM.
func (img *Image) InstanceType() string { return img.JSON.InstanceType() }

// Cloud says the image has cloud-init: its variant is cloud, or
// cloud-init is among its packages.
func (img *Image) Cloud() bool {
	if img.JSON.Properties["variant"] == "cloud" {
		return true
	}
	for _, p := range img.JSON.Packages {
		if p.Name == "cloud-init" {
			return true
		}
	}
	return false
}

// maxMetadataYAML bounds what is read of metadata.yaml; the daemons read
// at most 1 MiB of it.
const maxMetadataYAML = image.MaxMetadataSize

// LoadImage reads an output directory: image.json, checked against the
// files it lists, and metadata.yaml from the metadata or unified file.
func LoadImage(dir string) (*Image, error) {
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		return nil, err
	}
	if err := image.CheckFiles(dir, j); err != nil {
		return nil, err
	}
	img := &Image{Dir: dir, JSON: j, Tests: j.Tests}
	for _, f := range j.Files {
		if f.Role != image.RoleMetadata && f.Role != image.RoleUnified {
			continue
		}
		md, err := readMetadata(filepath.Join(dir, f.Name))
		if err != nil {
			return nil, err
		}
		img.Metadata = md
		return img, nil
	}
	return nil, fmt.Errorf("%s lists no metadata or unified file", filepath.Join(dir, image.ImageJSONName))
}

// readMetadata reads metadata.yaml out of a (compressed) tarball. builder
// writes it first, so a unified image's rootfs is not read; another
// tool's tarball may have it later, which costs a longer read.
func readMetadata(path string) (image.Metadata, error) {
	var md image.Metadata
	r, err := confined.OpenArchive(path)
	if err != nil {
		return md, fmt.Errorf("reading metadata.yaml from %s: %w", path, err)
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return md, fmt.Errorf("%s has no metadata.yaml", path)
		}
		if err != nil {
			return md, fmt.Errorf("reading metadata.yaml from %s: %w", path, err)
		}
		if strings.TrimPrefix(hdr.Name, "./") != "metadata.yaml" {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxMetadataYAML+1))
		if err != nil {
			return md, fmt.Errorf("reading metadata.yaml from %s: %w", path, err)
		}
		if len(data) > maxMetadataYAML {
			return md, fmt.Errorf("metadata.yaml in %s is larger than the daemons read (%d bytes)", path, maxMetadataYAML)
		}
		if err := yaml.Unmarshal(data, &md); err != nil {
			return md, fmt.Errorf("parsing metadata.yaml from %s: %w", path, err)
		}
		return md, nil
	}
}
