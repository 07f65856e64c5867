package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTmpfsLimits: a run step sees /tmp, /run and /dev/shm of the sizes
// the recipe's limits block gives, and cannot write more than that.
func TestTmpfsLimits(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := newHostileScene(t, `
for p in /tmp /run /dev/shm; do echo "size $p $(($(stat -f -c '%b * %S' $p) / 1024))k"; done
dd if=/dev/zero of=/tmp/big bs=1M count=8 && echo "WROTE 8M"`, "",
		"limits {\n  tmp_size = \"4MiB\"\n  run_size = \"2M\"\n  shm_size = 3145728\n}\n")
	stdout, stderr, err := s.run(t, "rootfs", "--cache-dir", "", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err == nil || strings.Contains(out, "WROTE 8M") {
		t.Fatalf("a step wrote 8 MiB into a 4 MiB /tmp: %v\n%s", err, out)
	}
	for _, want := range []string{"size /tmp 4096k", "size /run 2048k", "size /dev/shm 3072k", "No space left on device"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	s.checkHost(t)
}

// TestTarballLimit: a tarball bootstrap keeps a sparse file's holes (a
// 1 GiB file in a few KB of xz), and a recipe's limits { tarball_size }
// bounds what the tarball may expand to, naming the entry past it.
func TestTarballLimit(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	tmp := t.TempDir()
	base := busyboxTree(t, bin, filepath.Join(tmp, "base"))
	f, err := os.Create(filepath.Join(base, "var/big.img"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("end"), 1<<30-3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(tmp, "base.tar.xz")
	if out, err := exec.Command("tar", "-C", base, "--numeric-owner", "--sparse", "-cJf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	build := func(limits string) (string, string, error) {
		recipe := filepath.Join(tmp, "sparse.hcl")
		src := fmt.Sprintf("image {\n  distribution = \"busybox\"\n  release = \"sparse\"\n  architecture = \"amd64\"\n}\nbootstrap \"tarball\" {\n  source = %q\n}\n%s", archive, limits)
		if err := os.WriteFile(recipe, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, "out")
		out, err := exec.Command(bin, "rootfs", "--cache-dir", "", recipe, dir).CombinedOutput()
		return dir, string(out), err
	}

	dir, out, err := build("")
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "var/big.img"), &st); err != nil || st.Size != 1<<30 || st.Blocks*512 > 1<<20 {
		t.Errorf("var/big.img: %v, size %d, %d bytes on disk", err, st.Size, st.Blocks*512)
	}
	assertNothingMounted(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	dir, out, err = build("limits {\n  tarball_size = \"64MiB\"\n}\n")
	if err == nil || !strings.Contains(out, `extracting "./var/big.img": the archive expands past 64MiB here, with a file of 1.0 GiB after`) {
		t.Errorf("a tarball past its limit: %v\n%s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the failed build's directory is left: %v", err)
	}
}
