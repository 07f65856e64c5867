package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

type imageJSON struct {
	Fingerprint  string            `json:"fingerprint"`
	Type         string            `json:"type"`
	Architecture string            `json:"architecture"`
	Properties   map[string]string `json:"properties"`
	Files        []struct {
		Name, Role, SHA256 string
		Size               int64
	} `json:"files"`
}

func readImageJSON(t testing.TB, dir string) imageJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j imageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// runBuilder runs the built binary from the repository root.
func runBuilder(t testing.TB, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(builderBinary(t), args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("builder %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPackReproducible packs one rootfs several ways with a fixed
// SOURCE_DATE_EPOCH: twice, and with one thread against two, the files
// and the fingerprint are the same bytes.
func TestPackReproducible(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	tmp := t.TempDir()
	rootfsDir := filepath.Join(tmp, "rootfs")
	runBuilder(t, nil, "rootfs", "recipes/busybox.hcl", rootfsDir)
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	for _, format := range [][]string{
		{"--type", "unified", "--compression", "gzip"},
		{"--type", "unified", "--compression", "zstd"},
		{"--type", "unified", "--compression", "xz"},
		{"--type", "split", "--compression", "xz", "--rootfs-format", "squashfs"},
		{"--type", "split", "--compression", "gzip", "--rootfs-format", "tar"},
	} {
		name := strings.Join(format, "")
		var prints []string
		for i, threads := range []string{"1", "2", "2"} {
			out := filepath.Join(tmp, name, threads+"-"+string(rune('a'+i)))
			args := append([]string{"pack", rootfsDir, "--recipe", "recipes/busybox.hcl", "--output", out, "--threads", threads}, format...)
			runBuilder(t, epoch, args...)
			prints = append(prints, readImageJSON(t, out).Fingerprint)
		}
		if prints[0] != prints[1] || prints[1] != prints[2] {
			t.Errorf("%v: fingerprints differ between runs and thread counts: %v", format, prints)
		}
	}
	// Another epoch is another image.
	out := filepath.Join(tmp, "other-epoch")
	runBuilder(t, []string{"SOURCE_DATE_EPOCH=1700000001"}, "pack", rootfsDir, "--recipe", "recipes/busybox.hcl", "--output", out)
	base := filepath.Join(tmp, "base")
	runBuilder(t, epoch, "pack", rootfsDir, "--recipe", "recipes/busybox.hcl", "--output", base)
	if readImageJSON(t, out).Fingerprint == readImageJSON(t, base).Fingerprint {
		t.Error("the creation date does not change the fingerprint")
	}
	// What LXD reads: metadata.yaml first, with the epoch as creation date.
	list, err := exec.Command("tar", "-tzf", filepath.Join(base, "busybox-amd64.tar.gz")).Output()
	if err != nil {
		t.Fatal(err)
	}
	entries := strings.Split(strings.TrimSpace(string(list)), "\n")
	if len(entries) < 3 || entries[0] != "metadata.yaml" || entries[1] != "templates/" {
		t.Errorf("unified tarball starts with %v, want metadata.yaml then templates/", entries[:min(3, len(entries))])
	}
	md, err := exec.Command("tar", "-xzOf", filepath.Join(base, "busybox-amd64.tar.gz"), "metadata.yaml").Output()
	if err != nil || !strings.Contains(string(md), "creation_date: 1700000000") || !strings.Contains(string(md), "architecture: x86_64") {
		t.Errorf("metadata.yaml:\n%s (%v)", md, err)
	}
}

// TestPackSquashfsRoundTrip unpacks a split image's rootfs.squashfs with
// unsquashfs, as LXD does, and compares the tree with the source: names,
// types, modes, owners, sizes and symlink targets.
func TestPackSquashfsRoundTrip(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	testenv.Command(t, "unsquashfs", "squashfs-tools")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "rootfs")
	runBuilder(t, nil, "rootfs", "cmd/builder/testdata/rootfs/busybox.hcl", src)
	out := filepath.Join(tmp, "out")
	runBuilder(t, []string{"SOURCE_DATE_EPOCH=1700000000"}, "pack", src, "--recipe", "recipes/busybox.hcl", "--type", "split", "--output", out)
	back := filepath.Join(tmp, "back")
	if b, err := exec.Command("unsquashfs", "-n", "-d", back, filepath.Join(out, "rootfs.squashfs")).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, b)
	}
	want, got := describeTree(t, src), describeTree(t, back)
	if len(want) == 0 || strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("the unpacked tree differs from the source:\nsource:\n%s\nunpacked:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// describeTree lists every path with its type, mode, owner, size and
// link target: what must survive packing.
func describeTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := info.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch {
		case info.Mode().IsRegular():
			line += fmt.Sprintf(" %d", info.Size())
		case info.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
