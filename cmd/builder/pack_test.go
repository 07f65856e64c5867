package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

type imageJSON struct {
	Fingerprint  string `json:"fingerprint"`
	Type         string `json:"type"`
	Architecture string `json:"architecture"`
	Files        []struct {
		Name, Role, SHA256 string
		Size               int64
	} `json:"files"`
}

func readImageJSON(t *testing.T, dir string) imageJSON {
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
func runBuilder(t *testing.T, env []string, args ...string) string {
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
