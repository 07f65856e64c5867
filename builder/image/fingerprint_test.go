package image_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// writeRandom writes size pseudo-random bytes (fixed seed) to dir/name.
func writeRandom(t *testing.T, dir, name string, size int, seed uint64) []byte {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	_, _ = rng.Read(data)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func sha(data ...[]byte) string {
	h := sha256.New()
	for _, d := range data {
		h.Write(d)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shellSHA256 runs `cat files… | sha256sum`, as the LXD documentation
// computes a fingerprint by hand; without sha256sum it hashes the
// concatenation in Go.
func shellSHA256(t *testing.T, files ...string) string {
	t.Helper()
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Log("sha256sum not installed: comparing with Go's sha256 of the concatenation")
		var all [][]byte
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, data)
		}
		return sha(all...)
	}
	cmd := exec.Command("sh", "-c", `cat "$@" | sha256sum`, "sh")
	cmd.Args = append(cmd.Args, files...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	meta := writeRandom(t, dir, "lxd.tar.xz", 3000, 1)
	rootfs := writeRandom(t, dir, "rootfs.squashfs", 1<<20+17, 2)
	metaPath, rootfsPath := filepath.Join(dir, "lxd.tar.xz"), filepath.Join(dir, "rootfs.squashfs")

	split, err := image.Fingerprint(metaPath, rootfsPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := shellSHA256(t, metaPath, rootfsPath); split != want {
		t.Errorf("split fingerprint %s, cat meta rootfs | sha256sum says %s", split, want)
	}
	unified, err := image.Fingerprint(rootfsPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := shellSHA256(t, rootfsPath); unified != want {
		t.Errorf("unified fingerprint %s, sha256sum says %s", unified, want)
	}

	// The split fingerprint is not any combination of the files' own
	// sums: it needs the bytes.
	metaSum, rootfsSum := sha256.Sum256(meta), sha256.Sum256(rootfs)
	for _, derived := range []string{
		sha(metaSum[:], rootfsSum[:]),
		sha([]byte(hex.EncodeToString(metaSum[:]) + hex.EncodeToString(rootfsSum[:]))),
	} {
		if derived == split {
			t.Error("the split fingerprint equals a hash of the two sums")
		}
	}

	// HashFiles: one read gives the fingerprint and each file's sum.
	fp, files, err := image.HashFiles(dir, image.FileInfo{Name: "lxd.tar.xz", Role: image.RoleMetadata}, image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs})
	if err != nil {
		t.Fatal(err)
	}
	want := []image.FileInfo{
		{Name: "lxd.tar.xz", Role: image.RoleMetadata, SHA256: sha(meta), Size: int64(len(meta))},
		{Name: "rootfs.squashfs", Role: image.RoleRootfs, SHA256: sha(rootfs), Size: int64(len(rootfs))},
	}
	if fp != split || len(files) != 2 || files[0] != want[0] || files[1] != want[1] {
		t.Errorf("HashFiles = %s %+v, want %s %+v", fp, files, split, want)
	}
}

// TestCombinedHasher: a writer that tees its output through the hasher,
// in odd-sized writes, gets the same fingerprint as reading the files.
func TestCombinedHasher(t *testing.T) {
	dir := t.TempDir()
	meta := writeRandom(t, dir, "m", 5000, 3)
	rootfs := writeRandom(t, dir, "r", 70000, 4)
	c := image.NewCombinedHasher()
	var out bytes.Buffer
	for _, part := range []struct {
		name string
		role image.Role
		data []byte
	}{{"m", image.RoleMetadata, meta}, {"r", image.RoleRootfs, rootfs}} {
		w := io.MultiWriter(&out, c.Next(part.name, part.role))
		for rest := part.data; len(rest) > 0; {
			n := min(len(rest), 777)
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
	}
	fp, err := c.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := image.Fingerprint(filepath.Join(dir, "m"), filepath.Join(dir, "r")); fp != want || fp != sha(meta, rootfs) {
		t.Errorf("streamed %s, read %s", fp, want)
	}
	if files := c.Files(); files[0].SHA256 != sha(meta) || files[1].Size != int64(len(rootfs)) {
		t.Errorf("files %+v", files)
	}
}

func TestCombinedHasherMisuse(t *testing.T) {
	c := image.NewCombinedHasher()
	m := c.Next("lxd.tar.xz", image.RoleMetadata)
	c.Next("rootfs.squashfs", image.RoleRootfs)
	if _, err := m.Write([]byte("late")); err == nil || !strings.Contains(err.Error(), "whole, in order") {
		t.Errorf("writing the metadata after the rootfs started: %v", err)
	}

	for _, roles := range [][]image.Role{
		{image.RoleRootfs, image.RoleMetadata},
		{image.RoleMetadata},
		{image.RoleUnified, image.RoleRootfs},
		nil,
	} {
		c := image.NewCombinedHasher()
		for _, r := range roles {
			c.Next(string(r), r)
		}
		if _, err := c.Fingerprint(); err == nil {
			t.Errorf("roles %v gave a fingerprint", roles)
		}
	}
	for _, files := range [][]string{nil, {"a", "b", "c"}} {
		if _, err := image.Fingerprint(files...); err == nil {
			t.Errorf("Fingerprint(%v) succeeded", files)
		}
	}
	if _, err := image.Fingerprint(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Fingerprint(directory): %v", err)
	}
}
