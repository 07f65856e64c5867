package qemu

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/template"
	"github.com/builder-images/builder/builder/vmagent"
)

// diskEntry is a unified VM image's disk inside its tarball.
const diskEntry = "rootfs.img"

// imageFiles is what a VM image gives the backend: metadata.yaml, the
// template files it names and the disk.
type imageFiles struct {
	metadata  image.Metadata
	templates map[string]string // file name under templates/ → content
	disk      string
}

// readImage reads the image in dir described by j. A split image's disk
// is used where it is; a unified image's is extracted into scratch.
func readImage(ctx context.Context, dir string, j image.ImageJSON, scratch string) (imageFiles, error) {
	var f imageFiles
	var tarball string
	for _, file := range j.Files {
		switch file.Role {
		case image.RoleMetadata:
			tarball = filepath.Join(dir, file.Name)
		case image.RoleDisk:
			f.disk = filepath.Join(dir, file.Name)
		case image.RoleUnified:
			tarball = filepath.Join(dir, file.Name)
		}
	}
	if tarball == "" {
		return f, fmt.Errorf("%s lists no metadata or unified file", filepath.Join(dir, image.ImageJSONName))
	}
	extractDisk := ""
	if f.disk == "" {
		extractDisk = filepath.Join(scratch, "disk.qcow2")
	}
	if err := f.readTarball(ctx, tarball, extractDisk); err != nil {
		return f, err
	}
	if f.disk == "" {
		if _, err := os.Stat(extractDisk); err != nil {
			return f, fmt.Errorf("%s holds no %s: it is not a VM image", tarball, diskEntry)
		}
		f.disk = extractDisk
	}
	return f, nil
}

// readTarball reads metadata.yaml and templates/ from a (compressed)
// tarball and, when disk is not "", copies the disk entry there.
func (f *imageFiles) readTarball(ctx context.Context, tarball, disk string) (err error) {
	a, err := confined.OpenArchive(tarball)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := a.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("%s: %w", tarball, cerr)
		}
	}()
	f.templates = map[string]string{}
	sawMetadata := false
	var kept int64 // bytes of templates held
	tr := tar.NewReader(a)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", tarball, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case name == image.MetadataName:
			b, err := io.ReadAll(io.LimitReader(tr, image.MaxMetadataSize))
			if err != nil {
				return fmt.Errorf("reading %s from %s: %w", name, tarball, err)
			}
			if err := yaml.Unmarshal(b, &f.metadata); err != nil {
				return fmt.Errorf("%s in %s: %w", name, tarball, err)
			}
			sawMetadata = true
			// Templates read before metadata.yaml that it does not name
			// are dropped.
			for base, b := range f.templates {
				if !f.referenced(base) {
					kept -= int64(len(b))
					delete(f.templates, base)
				}
			}
		case strings.HasPrefix(name, "templates/") && !strings.Contains(name[len("templates/"):], "/"):
			base := name[len("templates/"):]
			if sawMetadata && !f.referenced(base) {
				continue
			}
			// A template renders to at most template.MaxOutput; its
			// source is far smaller than a megabyte.
			b, err := io.ReadAll(io.LimitReader(tr, maxTemplate))
			if err != nil {
				return fmt.Errorf("reading %s from %s: %w", name, tarball, err)
			}
			if old, ok := f.templates[base]; ok {
				kept -= int64(len(old))
			}
			kept += int64(len(b))
			if kept > maxTemplates {
				return fmt.Errorf("%s: its templates/ holds more than %d MiB: not a sane image", tarball, maxTemplates>>20)
			}
			f.templates[base] = string(b)
		case name == diskEntry && disk != "":
			if err := copyTo(disk, ctxReader{ctx, tr}); err != nil {
				return fmt.Errorf("extracting %s from %s: %w", name, tarball, err)
			}
		}
	}
	if !sawMetadata {
		return fmt.Errorf("%s holds no %s", tarball, image.MetadataName)
	}
	return nil
}

// Bounds on the templates kept from a metadata tarball: each one, and
// all of them (a hostile image may hold any number of entries).
const (
	maxTemplate  = 1 << 20
	maxTemplates = 16 << 20
)

// referenced says whether metadata.yaml names the template file base.
func (f *imageFiles) referenced(base string) bool {
	for _, mt := range f.metadata.Templates {
		if mt.Template == base {
			return true
		}
	}
	return false
}

// ctxReader ends reading with ctx's error once ctx ends: extracting a
// disk of gigabytes must stop on Ctrl-C.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func copyTo(dst string, r io.Reader) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// instanceSpec is what the templates are rendered for.
type instanceSpec struct {
	name        string
	fingerprint string
	config      map[string]string // the launch's instance config (user.*)
	nic         bool
}

// renderFiles renders the image's templates as the daemons do when a VM
// first starts: those whose triggers include create (rendered for
// create) or start, with the instance's name, its expanded config (the
// image's properties as image.*, the launch's keys, volatile keys) and
// devices. Incus's uid, gid and mode are honoured.
func (f imageFiles) renderFiles(inst instanceSpec) ([]vmagent.File, error) {
	config := map[string]string{
		"volatile.base_image": inst.fingerprint,
	}
	for k, v := range f.metadata.Properties {
		config["image."+k] = v
	}
	for k, v := range inst.config {
		config[k] = v
	}
	devices := map[string]map[string]string{
		"root": {"type": "disk", "path": "/", "pool": "default"},
	}
	if inst.nic {
		devices["eth0"] = map[string]string{"type": "nic", "name": "eth0", "nictype": "bridged"}
	}
	ti := template.Instance{Name: inst.name, Type: template.InstanceVM, Architecture: f.metadata.Architecture, Config: config, Devices: devices}

	paths := make([]string, 0, len(f.metadata.Templates))
	for p := range f.metadata.Templates {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var files []vmagent.File
	for _, p := range paths {
		mt := f.metadata.Templates[p]
		trigger := ""
		switch {
		case slices.Contains(mt.When, "create"):
			trigger = "create"
		case slices.Contains(mt.When, "start"):
			trigger = "start"
		default:
			continue // copy and rename do not happen to a new instance
		}
		content, ok := f.templates[mt.Template]
		if !ok {
			return nil, fmt.Errorf("metadata.yaml's template for %s is templates/%s, which the image lacks", p, mt.Template)
		}
		t := template.Template{Path: p, Name: mt.Template, Content: content, When: mt.When, CreateOnly: mt.CreateOnly, Properties: mt.Properties, Enabled: true}
		out, err := template.Render(t, ti, trigger)
		if err != nil {
			return nil, fmt.Errorf("rendering the image's templates: %w", err)
		}
		file := vmagent.File{Path: p, Content: []byte(out), CreateOnly: mt.CreateOnly}
		if file.UID, err = atoiOr(mt.UID, 0); err != nil {
			return nil, fmt.Errorf("template for %s: uid: %w", p, err)
		}
		if file.GID, err = atoiOr(mt.GID, 0); err != nil {
			return nil, fmt.Errorf("template for %s: gid: %w", p, err)
		}
		if mt.Mode != "" {
			mode, err := strconv.ParseUint(mt.Mode, 8, 32)
			if err != nil {
				return nil, fmt.Errorf("template for %s: mode %q is not octal: %w", p, mt.Mode, err)
			}
			file.Mode = uint32(mode)
		}
		files = append(files, file)
	}
	return files, nil
}

func atoiOr(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}
