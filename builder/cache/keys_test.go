package cache

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTreeDigestFollowsTopSymlink: a file or copy step whose source is a
// symlink copies what the link points at, so the key must change with
// that content, not only with the link's target text.
func TestTreeDigestFollowsTopSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "motd")
	link := filepath.Join(dir, "motd.link")
	if err := os.WriteFile(target, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("motd", link); err != nil {
		t.Fatal(err)
	}
	before, err := TreeDigest(link)
	if err != nil {
		t.Fatal(err)
	}
	if direct, _ := TreeDigest(target); before != direct {
		t.Errorf("digest through the link %s, of the file %s: want the same", before, direct)
	}
	if err := os.WriteFile(target, []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := TreeDigest(link)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("the digest of %s did not change when the file it links to did", link)
	}
}
