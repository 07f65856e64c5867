package bootstrap

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/builder-images/builder/builder/streams"
)

// endlessServer serves meta at /meta and, at /big, more zeros than any
// test reads (64MiB): what a hostile server sends for a file whose size
// it does not state. sent counts the bytes /big wrote.
func endlessServer(t *testing.T, meta []byte) (srv *httptest.Server, sent *atomic.Int64) {
	t.Helper()
	sent = new(atomic.Int64)
	chunk := make([]byte, 64<<10)
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/meta":
			_, _ = w.Write(meta)
		case "/big":
			for range 1024 {
				n, err := w.Write(chunk)
				sent.Add(int64(n))
				if err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, sent
}

// TestStreamsDownloadUnstatedSize: a file whose size the index leaves
// out (or states as 0) is still bounded by limits { tarball_size }:
// the download stops past it, naming the file, and leaves nothing,
// rather than filling the work directory with whatever the server sends
// before the hash is checked.
func TestStreamsDownloadUnstatedSize(t *testing.T) {
	meta := gzipTar(t, map[string]string{"metadata.yaml": baseMetadataYAML})
	srv, sent := endlessServer(t, meta)
	c, err := newStreamsClient(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := streams.Found{Product: "p", Version: "v", Fingerprint: strings.Repeat("a", 64),
		Meta:   &streams.Item{Path: "meta", SHA256: sha(meta), Size: int64(len(meta))},
		Rootfs: &streams.Item{Path: "big", SHA256: strings.Repeat("b", 64)}}
	work := t.TempDir()
	const limit = 1 << 20
	_, err = c.download(context.Background(), f, work, limit)
	if err == nil || !strings.Contains(err.Error(), "big") || !strings.Contains(err.Error(), "limits { tarball_size }") {
		t.Errorf("download = %v, want the limit named", err)
	}
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the server sent %d bytes of a file bounded to %d", n, limit)
	}
	assertEmpty(t, work)
}

// TestTarballDownloadBounded: a tarball bootstrap's https source is
// bounded by limits { tarball_size } while it downloads, before its
// sha256 can be checked.
func TestTarballDownloadBounded(t *testing.T) {
	srv, sent := endlessServer(t, nil)
	work := t.TempDir()
	env := Env{HTTP: srv.Client(), WorkDir: work, MaxExtract: 1 << 20}
	err := (tarballBackend{}).Bootstrap(context.Background(), env, &Config{Source: srv.URL + "/big", SHA256: strings.Repeat("0", 64)}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "limits { tarball_size }") {
		t.Errorf("Bootstrap = %v, want the limit named", err)
	}
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the server sent %d bytes of a file bounded to 1MiB", n)
	}
	assertEmpty(t, work)
}

// TestStreamsUnifiedMetadataBounded: resolving reads a unified image's
// tarball from the server only until its metadata, and no further than
// the size the index states (or, unstated, maxBaseMetadataFile): a
// server sending rootfs/ entries without end, or a metadata.yaml after
// more than it stated, fails the resolve instead of holding it for as
// long as it sends.
func TestStreamsUnifiedMetadataBounded(t *testing.T) {
	sent := new(atomic.Int64)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{w: w, n: sent}
		tw := tar.NewWriter(cw)
		data := make([]byte, 64<<10)
		for i := range 1024 {
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("rootfs/f%d", i), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				return
			}
			if _, err := tw.Write(data); err != nil {
				return
			}
		}
		_ = tw.Close()
	}))
	t.Cleanup(srv.Close)
	c, err := newStreamsClient(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := streams.Found{Product: "p", Version: "v", Fingerprint: strings.Repeat("a", 64),
		Meta: &streams.Item{Path: "unified.tar", SHA256: strings.Repeat("a", 64), Size: 1 << 20}}
	_, err = c.metadata(context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "unified.tar") || !strings.Contains(err.Error(), "1MiB") {
		t.Errorf("metadata = %v, want the stated size named", err)
	}
	if n := sent.Load(); n > 16<<20 {
		t.Errorf("the server sent %d bytes of a file stated as 1MiB", n)
	}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// TestStreamsIndexManyProducts: an index listing more products files
// than any image server has is refused before any of them is fetched,
// rather than fetching (and parsing, up to maxStreamsJSON each) every
// one it lists.
func TestStreamsIndexManyProducts(t *testing.T) {
	entries := map[string]any{}
	for i := range 5000 {
		entries[fmt.Sprintf("p%d", i)] = map[string]any{"datatype": "image-downloads", "path": fmt.Sprintf("streams/v1/p%d.json", i)}
	}
	index, err := json.Marshal(map[string]any{"format": "index:1.0", "index": entries})
	if err != nil {
		t.Fatal(err)
	}
	requests := new(atomic.Int64)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path == "/"+streams.IndexPath {
			_, _ = w.Write(index)
			return
		}
		_, _ = w.Write([]byte(`{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": {}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := newStreamsClient(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.find(context.Background(), streams.Query{Alias: "x", Arch: amd64})
	if err == nil || !strings.Contains(err.Error(), "5000 products files") {
		t.Errorf("find = %v, want the products files counted", err)
	}
	if n := requests.Load(); n > 1 {
		t.Errorf("%d requests for an index of 5000 products files", n)
	}
}
