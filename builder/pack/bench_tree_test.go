package pack

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// warmTree reads every file once, so that both pipelines start from the
// page cache, and returns the bytes of file data in the tree.
func warmTree(b *testing.B, tree string) int64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		total += n
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// The benchmark's input, in order of precedence:
//   - $BUILDER_BENCH_ROOTFS, any tree;
//   - $BUILDER_BENCH_INPUT:
//   - "ref" (the default): the reference rootfs, `debootstrap
//     --variant=minbase --include=systemd-sysv bookworm DIR` with
//     debootstrap's default mirror, built once (as root) and kept in
//     referenceCacheDir;
//   - "1g": the reference rootfs plus bigCopies copies of it under
//     builder-bench-copy-N/, about 1.1 GiB as tar, built once from it
//     and kept beside it: real content, to show memory does not grow
//     with the tree;
//   - "generated": a ~300 MiB generated tree of text, binary-like and
//     random files kept in $TMPDIR/builder-bench/ (no root or network
//     needed, but its figures are not the issue's).
func benchTree(b *testing.B) string {
	b.Helper()
	if tree := os.Getenv("BUILDER_BENCH_ROOTFS"); tree != "" {
		b.Logf("input: $BUILDER_BENCH_ROOTFS %s", tree)
		return tree
	}
	input := os.Getenv("BUILDER_BENCH_INPUT")
	switch input {
	case "", "ref", "1g":
	case "generated":
		tree := generatedTree(b)
		b.Logf("input: generated tree %s", tree)
		return tree
	default:
		b.Fatalf("BUILDER_BENCH_INPUT=%q: want ref, 1g or generated", input)
	}
	testenv.Need(b, os.Geteuid() == 0, "the reference rootfs (debootstrap --variant=minbase --include=systemd-sysv bookworm) "+
		"is built and packed as root; run as root, or set BUILDER_BENCH_ROOTFS=DIR, "+
		"or BUILDER_BENCH_INPUT=generated for the generated tree")
	tree := referenceRootfs(b)
	if input == "1g" {
		tree = bigRootfs(b, tree)
		b.Logf("input: %s (the reference rootfs and %d copies of it)", tree, bigCopies)
		return tree
	}
	b.Logf("input: reference rootfs %s (%s)", tree, strings.Join(referenceCommand, " "))
	return tree
}

// referenceCommand builds the reference rootfs into the directory that
// follows it; no mirror is named, so debootstrap uses its default.
var referenceCommand = []string{"debootstrap", "--variant=minbase", "--include=systemd-sysv", "bookworm"}

// referenceCacheDir is where the reference rootfs is kept:
// $XDG_CACHE_HOME/builder-bench when set, else /var/cache/builder-bench.
func referenceCacheDir() string {
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "builder-bench")
	}
	return "/var/cache/builder-bench"
}

// referenceRootfs returns the cached reference rootfs, building it on
// first use: debootstrap into a temporary directory beside it, renamed
// into place when complete, then the stamp file (the command) written.
// A tree without its stamp is from a killed run and is rebuilt.
func referenceRootfs(b *testing.B) string {
	b.Helper()
	base := referenceCacheDir()
	tree := filepath.Join(base, "reference-rootfs")
	stamp := tree + ".complete"
	want := strings.Join(referenceCommand, " ") + "\n"
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want {
		return tree
	}
	debootstrap := testenv.Command(b, "debootstrap", "debootstrap")
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.MkdirTemp(base, "reference-rootfs.tmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp's 0700 would be the rootfs's /
		b.Fatal(err)
	}
	start := time.Now()
	b.Logf("building the reference rootfs: %s %s (takes minutes, once)", strings.Join(referenceCommand, " "), tmp)
	cmd := exec.Command(debootstrap, append(referenceCommand[1:], tmp)...)
	log, err := os.Create(filepath.Join(base, "reference-rootfs.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v (see %s)", cmd, err, log.Name())
	}
	install(b, tmp, tree, stamp, want, start)
	return tree
}

// install renames the finished tree tmp into place (over an incomplete
// or outdated one) and then writes its stamp.
func install(b *testing.B, tmp, tree, stamp, want string, start time.Time) {
	b.Helper()
	os.Remove(stamp)
	os.RemoveAll(tree)
	if err := os.Rename(tmp, tree); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(stamp, []byte(want), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %v", tree, time.Since(start).Round(time.Second))
}

// bigCopies is how many copies of the reference rootfs the 1g input
// holds besides the reference itself: 5 × 235 MB is about 1.1 GiB as tar.
const bigCopies = 4

// bigRootfs returns the 1g input, making it on first use from ref (the
// reference rootfs): `cp -a` of ref, then of ref again under each
// builder-bench-copy-N/ (cp -a keeps hard links, xattrs and devices, so
// the copies are packed as the reference is, each with its own inodes).
// It is rebuilt when the reference's stamp is newer than its own.
func bigRootfs(b *testing.B, ref string) string {
	b.Helper()
	tree := ref + "-1g"
	stamp := tree + ".complete"
	want := fmt.Sprintf("%s and %d copies of it under builder-bench-copy-N/\n", ref, bigCopies)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == want && !newer(b, ref+".complete", stamp) {
		return tree
	}
	cp := testenv.Command(b, "cp", "coreutils")
	tmp, err := os.MkdirTemp(filepath.Dir(ref), filepath.Base(tree)+".tmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	b.Logf("copying the reference rootfs %d+1 times into %s (a minute or two, once)", bigCopies, tmp)
	copies := [][]string{{"-a", "--", ref + "/.", tmp}}
	for i := range bigCopies {
		copies = append(copies, []string{"-a", "--", ref, filepath.Join(tmp, fmt.Sprintf("builder-bench-copy-%d", i+1))})
	}
	for _, args := range copies {
		if out, err := exec.Command(cp, args...).CombinedOutput(); err != nil {
			b.Fatalf("cp %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	install(b, tmp, tree, stamp, want, start)
	return tree
}

// newer reports whether file a was modified after file b.
func newer(b *testing.B, a, bPath string) bool {
	b.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := os.Stat(bPath)
	if err != nil {
		return true
	}
	return sa.ModTime().After(sb.ModTime())
}

// generatedTree returns the generated tree, making it on first use.
func generatedTree(b *testing.B) string {
	b.Helper()
	const version = "tree-v1"
	base := filepath.Join(os.TempDir(), "builder-bench")
	tree := filepath.Join(base, version)
	if _, err := os.Stat(tree + ".complete"); err == nil {
		return tree
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.MkdirTemp(base, version+".tmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := generateTree(tmp, 300<<20); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(tree) // an incomplete tree left by a killed run
	if err := os.Rename(tmp, tree); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tree+".complete", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %s in %v", tree, time.Since(start).Round(time.Second))
	return tree
}

// generateTree writes about size bytes of files shaped like a rootfs:
// many small text files (docs, configs, scripts), binary-like files
// (repetitive structures, zero padding, strings) and already-compressed
// files (random bytes), with some symlinks and hard links.
func generateTree(dir string, size int64) error {
	rng := rand.New(rand.NewPCG(2024, 6))
	vocab := make([]string, 4000)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for k := range w {
			w[k] = "etaoinshrdlucmfwypvbgkqjxz_-./0123"[min(rng.IntN(34), rng.IntN(34))]
		}
		vocab[i] = string(w)
	}
	zipf := rand.NewZipf(rng, 1.2, 2, uint64(len(vocab)-1))
	text := func(n int) []byte {
		buf := make([]byte, 0, n+64)
		for len(buf) < n {
			for range 3 + rng.IntN(12) {
				buf = append(buf, vocab[zipf.Uint64()]...)
				buf = append(buf, ' ')
			}
			if rng.IntN(4) == 0 {
				buf = append(buf, "= "...)
				buf = strconv.AppendInt(buf, int64(rng.IntN(100000)), 10)
			}
			buf = append(buf, '\n')
		}
		return buf[:n]
	}
	binary := func(n int) []byte {
		buf := make([]byte, 0, n+4096)
		records := make([][]byte, 64)
		for i := range records {
			records[i] = make([]byte, 8+rng.IntN(24))
			for k := range records[i] {
				records[i][k] = byte(rng.IntN(16) * rng.IntN(16))
			}
		}
		for len(buf) < n {
			switch rng.IntN(6) {
			case 0:
				buf = append(buf, make([]byte, rng.IntN(2048))...)
			case 1:
				buf = append(buf, text(rng.IntN(512))...)
			default:
				for range 1 + rng.IntN(64) {
					buf = append(buf, records[rng.IntN(len(records))]...)
					buf = append(buf, byte(rng.Uint32()), byte(rng.Uint32()))
				}
			}
		}
		return buf[:n]
	}
	random := func(n int) []byte {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		return buf
	}

	var written int64
	for pkg := 0; written < size; pkg++ {
		name := fmt.Sprintf("pkg%04d", pkg)
		dirs := []string{"usr/share/doc/" + name, "usr/lib/" + name, "etc/" + name, "usr/share/" + name + "/data"}
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return err
			}
		}
		for f := range 8 + rng.IntN(24) {
			var data []byte
			var d string
			switch k := rng.IntN(100); {
			case k < 60:
				// sizes from ~100 B to ~64 KiB, most of them small
				data, d = text(64<<uint(rng.IntN(11))+rng.IntN(512)), dirs[rng.IntN(2)*2]
			case k < 88:
				data, d = binary(1024<<uint(rng.IntN(9))), dirs[1]
			default:
				data, d = random(1024<<uint(rng.IntN(8))), dirs[3]
			}
			p := filepath.Join(dir, d, fmt.Sprintf("file%03d", f))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			written += int64(len(data))
			switch rng.IntN(20) {
			case 0:
				if err := os.Symlink(filepath.Base(p), p+".link"); err != nil {
					return err
				}
			case 1:
				if err := os.Link(p, p+".hard"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
