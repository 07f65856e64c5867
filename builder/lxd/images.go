package lxd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// Image is the part of the daemon's image record builder reads.
type Image struct {
	Fingerprint  string            `json:"fingerprint"`
	Architecture string            `json:"architecture"`
	Type         string            `json:"type"`
	Public       bool              `json:"public"`
	Size         int64             `json:"size"`
	Properties   map[string]string `json:"properties"`
	Aliases      []struct {
		Name string `json:"name"`
	} `json:"aliases"`
}

// Image returns the image with this full fingerprint; IsNotFound tells a
// missing one.
func (c *Client) Image(ctx context.Context, fingerprint string) (Image, error) {
	var img Image
	err := c.get(ctx, "/1.0/images/"+url.PathEscape(fingerprint), &img)
	return img, err
}

// DeleteImage deletes the image and waits for the deletion.
func (c *Client) DeleteImage(ctx context.Context, fingerprint string) error {
	return c.send(ctx, http.MethodDelete, "/1.0/images/"+url.PathEscape(fingerprint), nil)
}

// SetPublic makes an image public or private, leaving its other settings.
func (c *Client) SetPublic(ctx context.Context, fingerprint string, public bool) error {
	return c.send(ctx, http.MethodPatch, "/1.0/images/"+url.PathEscape(fingerprint), map[string]any{"public": public})
}

// Alias is an image alias.
type Alias struct {
	Name        string `json:"name"`
	Target      string `json:"target"`
	Description string `json:"description"`
	// Type is the target's instance type, as the daemon reports it
	// ("container" or "virtual-machine"); never sent.
	Type string `json:"type,omitempty"`
}

// Alias returns the alias; IsNotFound tells a missing one.
func (c *Client) Alias(ctx context.Context, name string) (Alias, error) {
	var a Alias
	err := c.get(ctx, "/1.0/images/aliases/"+url.PathEscape(name), &a)
	return a, err
}

// Aliases returns every alias of the project.
func (c *Client) Aliases(ctx context.Context) ([]Alias, error) {
	var list []Alias
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/1.0/images/aliases", url.Values{"recursion": {"1"}}), nil)
	if err != nil {
		return nil, err
	}
	r, _, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(r.Metadata, &list); err != nil {
		return nil, fmt.Errorf("listing aliases of %s: %w", c.Where, err)
	}
	return list, nil
}

// CreateAlias points a new alias at the image.
func (c *Client) CreateAlias(ctx context.Context, a Alias) error {
	return c.send(ctx, http.MethodPost, "/1.0/images/aliases", map[string]string{"name": a.Name, "target": a.Target, "description": a.Description})
}

// RetargetAlias points an existing alias at another image in one request,
// so it never disappears in between, as delete and re-create would make
// it.
func (c *Client) RetargetAlias(ctx context.Context, a Alias) error {
	return c.send(ctx, http.MethodPut, "/1.0/images/aliases/"+url.PathEscape(a.Name),
		map[string]string{"target": a.Target, "description": a.Description})
}

// UploadFile is one file of an image upload.
type UploadFile struct {
	// Path is where the file is on this machine.
	Path string
	// Size is its size, for progress.
	Size int64
}

// Upload is an image upload: one unified file, or the metadata and rootfs
// (or disk) files of a split image.
type Upload struct {
	Files       []UploadFile
	Fingerprint string
	// VM says a split image's second file is a VM's disk: it goes as
	// the part rootfs.img, which is how the daemon tells a VM image
	// from a container's (a unified file's entries tell it instead).
	VM     bool
	Public bool
	// Properties are sent as request properties; they override the
	// metadata's.
	Properties map[string]string
	// Progress is called as bytes leave, with the bytes sent so far and
	// the total; nil means no reports.
	Progress func(sent, total int64)
}

// UploadImage sends the image with POST /1.0/images, raw for one file and
// multipart (metadata, then rootfs, or rootfs.img for a VM's disk) for
// two, the way the daemons' own clients do, streaming the files; it waits for the daemon to store the
// image and returns the fingerprint the daemon computed.
func (c *Client) UploadImage(ctx context.Context, up Upload) (string, error) {
	if n := len(up.Files); n != 1 && n != 2 {
		return "", fmt.Errorf("an image upload takes one or two files, not %d", n)
	}
	var total int64
	for _, f := range up.Files {
		total += f.Size
	}
	body, contentType := c.uploadBody(up, total)
	defer body.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/1.0/images", nil), body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(c.header("fingerprint"), up.Fingerprint)
	if up.Public {
		req.Header.Set(c.header("public"), "1")
	}
	if len(up.Properties) > 0 {
		props := url.Values{}
		for k, v := range up.Properties {
			props.Set(k, v)
		}
		req.Header.Set(c.header("properties"), props.Encode())
	}
	if len(up.Files) == 1 {
		req.Header.Set(c.header("filename"), filepath.Base(up.Files[0].Path))
	}
	r, _, err := c.do(req)
	if err != nil {
		return "", err
	}
	if r.Type != "async" {
		return "", fmt.Errorf("POST /1.0/images: %s answered %q, not an operation", c.Where, r.Type)
	}
	op, err := c.Wait(ctx, r.Operation)
	fp, _ := op.Metadata["fingerprint"].(string)
	return fp, err
}

// uploadBody streams the files through a pipe: the daemon spools the
// whole body to disk before it looks at it, so nothing is gained by
// buffering here, and images are large.
func (c *Client) uploadBody(up Upload, total int64) (io.ReadCloser, string) {
	pr, pw := io.Pipe()
	var sent atomic.Int64
	progress := func(n int) {
		if up.Progress != nil {
			up.Progress(sent.Add(int64(n)), total)
		}
	}
	copyFile := func(w io.Writer, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(progressWriter{w, progress}, f)
		if err != nil {
			return fmt.Errorf("sending %s: %w", path, err)
		}
		return nil
	}
	if len(up.Files) == 1 {
		go func() { pw.CloseWithError(copyFile(pw, up.Files[0].Path)) }()
		return pr, "application/octet-stream"
	}
	mw := multipart.NewWriter(pw)
	parts := []string{"metadata", "rootfs"}
	if up.VM {
		parts[1] = "rootfs.img"
	}
	go func() {
		err := func() error {
			for i, name := range parts {
				part, err := mw.CreateFormFile(name, filepath.Base(up.Files[i].Path))
				if err != nil {
					return err
				}
				if err := copyFile(part, up.Files[i].Path); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

type progressWriter struct {
	w      io.Writer
	report func(int)
}

func (p progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.report(n)
	return n, err
}

// isDuplicateImage tells the daemons' answer to an upload of an image
// they already hold, which wording changed between releases.
func isDuplicateImage(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "same fingerprint already exists") ||
		strings.Contains(msg, "unique constraint failed: images.fingerprint")
}
