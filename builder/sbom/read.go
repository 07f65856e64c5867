package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/builder-images/builder/builder/image"
)

// maxDocument bounds the SBOM read back: a Debian image's is about a
// kilobyte per package.
const maxDocument = 256 << 20

// ReadDir reads the output directory dir's image.json and the SBOM it
// records, checked against the recorded sha256 and size: a document
// changed since the build is an error naming it, never printed as the
// image's.
func ReadDir(dir string) (image.ImageJSON, []byte, error) {
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		return image.ImageJSON{}, nil, err
	}
	if j.SBOM == nil {
		return j, nil, fmt.Errorf("%s records no SBOM: an older builder wrote it; build or pack the image again", filepath.Join(dir, image.ImageJSONName))
	}
	if j.SBOM.Format != Format {
		return j, nil, fmt.Errorf("%s: the SBOM's format is %q, not %q", filepath.Join(dir, image.ImageJSONName), j.SBOM.Format, Format)
	}
	path := filepath.Join(dir, j.SBOM.Name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return j, nil, fmt.Errorf("reading the SBOM: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return j, nil, fmt.Errorf("reading the SBOM: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() != j.SBOM.Size || st.Size() > maxDocument {
		return j, nil, fmt.Errorf("%s is not the SBOM image.json records (%s, %d bytes; recorded: %d bytes)", path, st.Mode().Type(), st.Size(), j.SBOM.Size)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDocument))
	if err != nil {
		return j, nil, fmt.Errorf("reading the SBOM: %w", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != j.SBOM.SHA256 {
		return j, nil, errors.New(path + " has changed since the build: its sha256 is " + hex.EncodeToString(sum[:]) + ", image.json records " + j.SBOM.SHA256)
	}
	return j, data, nil
}
