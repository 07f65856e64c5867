package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/streams"
)

// A read-only simplestreams client, what bootstrap "image" { server = … }
// downloads its base with: streams/v1/index.json, the products files it
// lists, then the files of the one image the block names. Everything a
// server sends is untrusted: tree paths are checked before a URL is made
// of them, every file is checked against the size and sha256 the index
// states, and the image's files together against its fingerprint, before
// anything is unpacked.

// maxStreamsJSON bounds an index or products file: the public image
// servers' products file is some megabytes.
const maxStreamsJSON = 256 << 20

// maxProductsFiles bounds the products files of images an index may
// list, each read whole: LXD's and Incus's servers and builder's trees
// have one ("images"), Ubuntu's cloud-image servers a few.
const maxProductsFiles = 64

// streamsClient reads one simplestreams server.
type streamsClient struct {
	http *http.Client
	// base is the server's URL, its path ending in "/"; server is the
	// URL as the recipe gave it.
	base   *url.URL
	server string
}

// newStreamsClient checks the server's URL: https, nothing but a host and
// a path. client nil means http.DefaultClient; redirects are followed to
// https URLs only.
func newStreamsClient(client *http.Client, server string) (*streamsClient, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("simplestreams server %q: not an https URL of a host and a path", server)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("the server redirected to %s, which is not https", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &streamsClient{http: &c, base: u, server: server}, nil
}

// by names the server as the one stating sizes and hashes.
func (c *streamsClient) by() string { return "the index of " + c.server }

// fileURL is the URL of the tree path p, which the server's index gave:
// a path with an empty, "." or ".." component, a backslash or a NUL is
// refused rather than resolved somewhere else.
func (c *streamsClient) fileURL(p string) (string, error) {
	parts := strings.Split(p, "/")
	for _, part := range parts {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, "\\\x00") {
			return "", fmt.Errorf("%s names the file %q, which is not a path inside the tree", c.server, p)
		}
	}
	return c.base.JoinPath(parts...).String(), nil
}

// get reads the tree path p, up to limit bytes.
func (c *streamsClient) get(ctx context.Context, p string, limit int64) ([]byte, error) {
	u, err := c.fileURL(p)
	if err != nil {
		return nil, err
	}
	body, err := c.open(ctx, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("reading %s: larger than %s", u, confined.FormatSize(limit))
	}
	return data, nil
}

// open GETs u.
func (c *streamsClient) open(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("reading %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}

// find asks the server for the container image q names, in every
// products file of its index.
func (c *streamsClient) find(ctx context.Context, q streams.Query) (streams.Found, error) {
	data, err := c.get(ctx, streams.IndexPath, maxStreamsJSON)
	if err != nil {
		return streams.Found{}, err
	}
	idx, err := streams.ParseIndex(data, c.server+" "+streams.IndexPath)
	if err != nil {
		return streams.Found{}, err
	}
	paths := idx.ProductPaths()
	if len(paths) == 0 {
		return streams.Found{}, fmt.Errorf("%s: %s lists no images", c.server, streams.IndexPath)
	}
	if len(paths) > maxProductsFiles {
		return streams.Found{}, fmt.Errorf("%s: %s lists %d products files of images, more than the %d any image server has", c.server, streams.IndexPath, len(paths), maxProductsFiles)
	}
	for _, p := range paths {
		data, err := c.get(ctx, p, maxStreamsJSON)
		if err != nil {
			return streams.Found{}, err
		}
		products, err := streams.ParseProducts(data, c.server+" "+p)
		if err != nil {
			return streams.Found{}, err
		}
		f, err := products.Find(q)
		if errors.Is(err, streams.ErrNoImage) {
			continue
		}
		if err != nil {
			return streams.Found{}, fmt.Errorf("%s: %w", c.server, err)
		}
		return f, nil
	}
	return streams.Found{}, fmt.Errorf("%s: %w with %s", c.server, streams.ErrNoImage, q)
}

// download fetches the image f into workDir, each file checked against
// the size and sha256 the index states, and both together against the
// image's fingerprint; on any failure nothing is left. maxSize bounds
// each file (limits { tarball_size }), before anything is fetched.
func (c *streamsClient) download(ctx context.Context, f streams.Found, workDir string, maxSize int64) (_ baseFiles, err error) {
	if maxSize <= 0 {
		maxSize = confined.DefaultMaxExtract
	}
	items := []*streams.Item{f.Meta}
	if f.Rootfs != nil {
		items = append(items, f.Rootfs)
	}
	var paths []string
	defer func() {
		if err != nil {
			for _, p := range paths {
				os.Remove(p)
			}
		}
	}()
	combined := sha256.New()
	for _, it := range items {
		if it.Size > maxSize {
			return baseFiles{}, fmt.Errorf("%s is %s by %s, more than limits { tarball_size } allows (%s)", it.Path, confined.FormatSize(it.Size), c.by(), confined.FormatSize(maxSize))
		}
		u, err := c.fileURL(it.Path)
		if err != nil {
			return baseFiles{}, err
		}
		size := it.Size
		if size <= 0 {
			size = -1 // stated by no one: maxSize bounds it
		}
		p, err := download(ctx, c.http, fetchSpec{URL: u, SHA256: it.SHA256, Size: size, Max: maxSize, By: c.by(), Tee: combined}, workDir)
		if err != nil {
			return baseFiles{}, err
		}
		paths = append(paths, p)
	}
	if got := hex.EncodeToString(combined.Sum(nil)); got != f.Fingerprint {
		return baseFiles{}, fmt.Errorf("the files of image %s version %s (%s) make the fingerprint %s, but %s states %s",
			f.Product, f.Version, itemPaths(items), got, c.by(), f.Fingerprint)
	}
	files := baseFiles{Metadata: paths[0]}
	if len(paths) > 1 {
		files.Rootfs = paths[1]
	}
	return files, nil
}

// itemPaths lists the items' tree paths for messages.
func itemPaths(items []*streams.Item) string {
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Path
	}
	return strings.Join(names, " + ")
}

// baseFiles are a base image's files as downloaded and checked.
type baseFiles struct {
	// Metadata is a split image's metadata tarball, or a unified image's
	// one tarball.
	Metadata string
	// Rootfs is a split image's root filesystem; "" for a unified image.
	Rootfs string
}

// rootfs is the file holding the root filesystem, and whether it is a
// unified tarball (see extractBaseRootfs).
func (f baseFiles) rootfs() (path string, unified bool) {
	if f.Rootfs == "" {
		return f.Metadata, true
	}
	return f.Rootfs, false
}

// remove deletes the downloaded files.
func (f baseFiles) remove() error {
	var errs []error
	for _, p := range []string{f.Metadata, f.Rootfs} {
		if p != "" {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
