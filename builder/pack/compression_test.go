package pack

import (
	"strings"
	"testing"
)

func TestParseCompression(t *testing.T) {
	good := map[string]string{
		"gzip": "gzip-6", "gzip-1": "gzip-1", "gzip-9": "gzip-9",
		"xz": "xz-6", "xz-0": "xz-0", "xz-9": "xz-9",
		"zstd": "zstd-3", "zstd-22": "zstd-22", "none": "none",
	}
	for in, want := range good {
		c, err := ParseCompression(in)
		if err != nil {
			t.Errorf("ParseCompression(%q): %v", in, err)
			continue
		}
		if c.String() != want {
			t.Errorf("ParseCompression(%q) = %s, want %s", in, c, want)
		}
	}
	bad := map[string]string{
		"gzip-0":  "gzip level must be a whole number from 1 to 9",
		"gzip-10": "gzip level must be a whole number from 1 to 9",
		"xz-10":   "xz level must be a whole number from 0 to 9",
		"zstd-23": "zstd level must be a whole number from 1 to 22",
		"zstd-x":  `not "x"`,
		"none-1":  `compression "none" takes no level`,
		"bzip2":   `unknown compression "bzip2"`,
		"":        `unknown compression ""`,
	}
	for in, want := range bad {
		_, err := ParseCompression(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseCompression(%q) error = %v, want it to contain %q", in, err, want)
		}
	}
}
