package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/builder-images/builder/builder/confined"
)

// tarballBackend extracts a local or downloaded archive. The checksum is
// verified before anything is extracted.
type tarballBackend struct{}

func (tarballBackend) Name() string         { return "tarball" }
func (tarballBackend) Attributes() []string { return []string{"source!", "sha256"} }
func (tarballBackend) Variants() []string   { return nil }
func (tarballBackend) Tools() []Tool        { return nil }

// HostInputs is a local archive; a downloaded one is pinned by its
// sha256, which the block's own values hold.
func (tarballBackend) HostInputs(cfg *Config) []string { return localPath(cfg.Source) }

func (tarballBackend) Bootstrap(ctx context.Context, env Env, b *Config, dir string) error {
	path := b.Source
	if strings.HasPrefix(b.Source, "https://") {
		downloaded, err := download(ctx, env.HTTP, fetchSpec{URL: b.Source, SHA256: b.SHA256, Size: -1, Max: env.MaxExtract}, env.WorkDir)
		if err != nil {
			return err
		}
		defer os.Remove(downloaded)
		path = downloaded
	} else if b.SHA256 != "" {
		if err := checkFileSHA256(path, b.SHA256); err != nil {
			return err
		}
	}
	if err := confined.ExtractArchive(ctx, path, dir, env.MaxExtract); err != nil {
		return fmt.Errorf("extracting %s: %w", b.Source, err)
	}
	return nil
}

// ChecksumError is a download or file whose sha256 is not the recipe's,
// or not the one the server stated.
type ChecksumError struct {
	Source, Want, Got string
	// By says who stated Want: "" is the recipe.
	By string
}

func (e *ChecksumError) Error() string {
	if e.By != "" {
		return fmt.Sprintf("%s has sha256 %s, but %s states %s", e.Source, e.Got, e.By, e.Want)
	}
	return fmt.Sprintf("%s has sha256 %s, but the recipe expects %s", e.Source, e.Got, e.Want)
}

func checkFileSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChecksumError{Source: path, Want: want, Got: got}
	}
	return nil
}

// fetchSpec is a file to download and what it must be.
type fetchSpec struct {
	URL, SHA256 string
	// Size is the size the file must have; -1 for any.
	Size int64
	// Max bounds a file of any size (limits { tarball_size }): the
	// download stops past it, since its hash is checked only at the
	// end; <= 0 means confined.DefaultMaxExtract.
	Max int64
	// By says who stated SHA256 and Size: "" is the recipe.
	By string
	// Tee, when set, is given the bytes too (a fingerprint computed
	// over several files).
	Tee io.Writer
}

// download fetches f.URL into a temporary file in workDir, hashing on
// the way, up to f.Size or f.Max; a file whose hash or size differs, or
// that passes f.Max, is removed and reported.
func download(ctx context.Context, client *http.Client, f fetchSpec, workDir string) (_ string, err error) {
	if client == nil {
		client = http.DefaultClient
	}
	url := f.URL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %s", url, resp.Status)
	}
	out, err := os.CreateTemp(workDir, ".builder-download-*")
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	defer func() {
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	h := sha256.New()
	w := io.MultiWriter(out, h)
	if f.Tee != nil {
		w = io.MultiWriter(out, h, f.Tee)
	}
	limit := f.Size
	if limit < 0 {
		limit = f.Max
		if limit <= 0 {
			limit = confined.DefaultMaxExtract
		}
	}
	// One byte more than stated (or allowed) shows a longer file
	// without reading all of it.
	n, copyErr := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err := errors.Join(copyErr, out.Close()); err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	if f.Size < 0 && n > limit {
		return "", fmt.Errorf("downloading %s: it is larger than limits { tarball_size } allows (%s)", url, confined.FormatSize(limit))
	}
	if f.Size >= 0 && n != f.Size {
		got := strconv.FormatInt(n, 10)
		if n > f.Size {
			got = "more than " + strconv.FormatInt(f.Size, 10)
		}
		return "", fmt.Errorf("downloading %s: it is %s bytes, but %s states %d", url, got, f.By, f.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return "", &ChecksumError{Source: url, Want: f.SHA256, Got: got, By: f.By}
	}
	return out.Name(), nil
}
