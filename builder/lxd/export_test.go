package lxd

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// exportParts runs ExportImage and returns the parts read, "NAME=CONTENT"
// each, stopping after stopAfter parts when it is > 0.
func exportParts(t *testing.T, c *Client, stopAfter int) ([]string, error) {
	t.Helper()
	var got []string
	err := c.ExportImage(context.Background(), "abc", func(p ExportPart) error {
		data, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		got = append(got, p.Name+"="+string(data))
		if len(got) == stopAfter {
			return ErrStopExport
		}
		return nil
	})
	return got, err
}

// TestExportImage: a split image's export is its multipart answer's
// parts in order, a unified image's the body; the function may stop it
// early; a missing image is the daemon's error.
func TestExportImage(t *testing.T) {
	split, _ := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", mw.FormDataContentType())
		for _, part := range []string{"metadata", "rootfs"} {
			pw, _ := mw.CreateFormFile(part, part+".tar")
			_, _ = pw.Write([]byte(part + " bytes"))
		}
		_ = mw.Close()
	})
	if got, err := exportParts(t, split, 0); err != nil || strings.Join(got, ",") != "metadata=metadata bytes,rootfs=rootfs bytes" {
		t.Errorf("split: %v, %v", got, err)
	}
	if got, err := exportParts(t, split, 1); err != nil || len(got) != 1 {
		t.Errorf("stopped after the metadata: %v, %v", got, err)
	}

	unified, seen := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="abc.tar.gz"`)
		_, _ = w.Write([]byte("one file"))
	})
	if got, err := exportParts(t, unified, 0); err != nil || strings.Join(got, ",") != "unified=one file" {
		t.Errorf("unified: %v, %v", got, err)
	}
	if p := seen.paths(); len(p) != 1 || p[0] != "GET /1.0/images/abc/export" {
		t.Errorf("requests %v", p)
	}

	missing, _ := newFakeDaemon(t, LXD, func(w http.ResponseWriter, r request) { apiError(w, 404, "Image not found") })
	_, err := exportParts(t, missing, 0)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !IsNotFound(err) {
		t.Errorf("a missing image: %v", err)
	}
}
