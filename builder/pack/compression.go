// Package pack writes image files: the deterministic tar stream, the
// compressors behind it and the squashfs rootfs.
//
// Start with Compression: the recipe's `compression = "xz-9"` is parsed
// here, so validation, `--help` and the packer read one table. The image
// stage's single pass is WriteCompressed (temporary file, compressor,
// sha256, fsync, rename) around a TarWriter (WriteFiles for metadata.yaml
// and templates/, WriteTree for the rootfs); tarheader.go holds every
// header rule and compressors.go the reproducible parallel compressors.
package pack

import (
	"fmt"
	"strconv"
	"strings"
)

// Algorithm describes one compression algorithm builder can write.
type Algorithm struct {
	Name string
	// Extension is appended to tarball names (".tar" + Extension).
	Extension string
	// MinLevel and MaxLevel bound the `-N` suffix; both 0 means the
	// algorithm takes no level.
	MinLevel, MaxLevel int
	// DefaultLevel is the level used when the recipe gives none; it
	// matches the C tool's default so sizes compare like for like.
	DefaultLevel int
}

// algorithms is the table every caller reads; order is the order users
// see in messages.
var algorithms = []Algorithm{
	{Name: "gzip", Extension: ".gz", MinLevel: 1, MaxLevel: 9, DefaultLevel: 6},
	{Name: "xz", Extension: ".xz", MinLevel: 0, MaxLevel: 9, DefaultLevel: 6},
	{Name: "zstd", Extension: ".zst", MinLevel: 1, MaxLevel: 22, DefaultLevel: 3},
	{Name: "none", Extension: ""},
}

// AlgorithmNames lists the algorithm names in table order.
func AlgorithmNames() []string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.Name
	}
	return names
}

// Compression is an algorithm with its level.
type Compression struct {
	Algorithm Algorithm
	Level     int
}

// String returns the canonical spelling, e.g. "xz-6" or "none".
func (c Compression) String() string {
	if c.Algorithm.MaxLevel == 0 {
		return c.Algorithm.Name
	}
	return fmt.Sprintf("%s-%d", c.Algorithm.Name, c.Level)
}

// ParseCompression parses "NAME" or "NAME-LEVEL".
func ParseCompression(s string) (Compression, error) {
	name, levelText, hasLevel := strings.Cut(s, "-")
	for _, a := range algorithms {
		if a.Name != name {
			continue
		}
		if !hasLevel {
			return Compression{Algorithm: a, Level: a.DefaultLevel}, nil
		}
		if a.MaxLevel == 0 {
			return Compression{}, fmt.Errorf("compression %q takes no level", a.Name)
		}
		level, err := strconv.Atoi(levelText)
		if err != nil || level < a.MinLevel || level > a.MaxLevel {
			return Compression{}, fmt.Errorf("%s level must be a whole number from %d to %d, not %q", a.Name, a.MinLevel, a.MaxLevel, levelText)
		}
		return Compression{Algorithm: a, Level: level}, nil
	}
	return Compression{}, fmt.Errorf("unknown compression %q; use one of %s, optionally with a level such as xz-9", name, strings.Join(AlgorithmNames(), ", "))
}
