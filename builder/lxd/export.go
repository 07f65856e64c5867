package lxd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// ExportPart is one file of an image export: the metadata or rootfs of
// a split image (as the multipart answer names them), or the one file of
// a unified image (Name "unified").
type ExportPart struct {
	Name, Filename string
	io.Reader
}

// ErrStopExport, returned by ExportImage's function, ends the export
// early without error: the metadata is read, the rootfs not wanted.
var ErrStopExport = errors.New("stop the export")

// ExportImage streams GET /1.0/images/FINGERPRINT/export, calling each
// for its files in order (metadata first). Nothing is buffered: each
// must read what it needs of its part before returning.
func (c *Client) ExportImage(ctx context.Context, fingerprint string, each func(ExportPart) error) error {
	p := "/1.0/images/" + url.PathEscape(fingerprint) + "/export"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(p, nil), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(req, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		apiErr := &APIError{Method: http.MethodGet, Path: p, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var r response
		if json.Unmarshal(data, &r) == nil && r.Error != "" {
			apiErr.Message = r.Error
		}
		return apiErr
	}
	err = c.exportParts(resp, each)
	if errors.Is(err, ErrStopExport) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("exporting image %s from %s: %w", fingerprint, c.Where, err)
	}
	return nil
}

func (c *Client) exportParts(resp *http.Response, each func(ExportPart) error) error {
	mediaType, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !strings.HasPrefix(mediaType, "multipart/") {
		_, disp, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		return each(ExportPart{Name: "unified", Filename: disp["filename"], Reader: resp.Body})
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the multipart answer: %w", err)
		}
		err = each(ExportPart{Name: part.FormName(), Filename: part.FileName(), Reader: part})
		part.Close()
		if err != nil {
			return err
		}
	}
}
