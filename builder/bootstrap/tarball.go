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
		downloaded, err := download(ctx, env.HTTP, b.Source, b.SHA256, env.WorkDir)
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

// ChecksumError is a download or file whose sha256 is not the recipe's.
type ChecksumError struct {
	Source, Want, Got string
}

func (e *ChecksumError) Error() string {
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

// download fetches url into a temporary file in workDir, hashing on the
// way; a file whose hash differs is removed and reported.
func download(ctx context.Context, client *http.Client, url, want, workDir string) (_ string, err error) {
	if client == nil {
		client = http.DefaultClient
	}
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
	f, err := os.CreateTemp(workDir, ".builder-download-*")
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	_, copyErr := io.Copy(io.MultiWriter(f, h), resp.Body)
	if err := errors.Join(copyErr, f.Close()); err != nil {
		return "", fmt.Errorf("downloading %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", &ChecksumError{Source: url, Want: want, Got: got}
	}
	return f.Name(), nil
}
