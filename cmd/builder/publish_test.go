package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/s3test"
)

// buildPair builds the busybox recipe twice into dir: a split image (gzip
// metadata, squashfs rootfs) and, an hour older, a unified xz one. Both are
// versions of the product busybox:static:default:x86_64.
func buildPair(t *testing.T, dir string) (split, unified string) {
	t.Helper()
	requireRoot(t)
	requireBusybox(t)
	now := time.Now().Unix()
	split, unified = filepath.Join(dir, "split"), filepath.Join(dir, "unified")
	runBuilder(t, []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", now)}, "build", "recipes/busybox.hcl", "-o", split, "--type", "split", "--compression", "gzip", "--rootfs-format", "squashfs")
	runBuilder(t, []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", now-3600)}, "build", "recipes/busybox.hcl", "-o", unified, "--type", "unified", "--compression", "xz")
	return split, unified
}

// runBuilderCode runs the binary and returns its output and exit code.
func runBuilderCode(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(builderBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

type listedImage struct {
	Product, Version, Fingerprint, Type string
	Aliases                             []string
}

func treeList(t *testing.T, env []string, tree string, filters ...string) []listedImage {
	t.Helper()
	out := runBuilder(t, env, append([]string{"tree", "list", "--json", tree}, filters...)...)
	var imgs []listedImage
	if err := json.Unmarshal([]byte(out), &imgs); err != nil {
		t.Fatalf("tree list --json: %v\n%s", err, out)
	}
	return imgs
}

// TestPublishTreeCommands publishes a split and a unified image into a
// directory tree, lists them with filters, verifies, breaks the tree two
// ways for verify to find, prunes and removes.
func TestPublishTreeCommands(t *testing.T) {
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	sj, uj := readImageJSON(t, split), readImageJSON(t, unified)
	tree := filepath.Join(tmp, "tree")

	out := runBuilder(t, nil, "publish", tree, split, unified)
	if strings.Count(out, "published busybox:static:default:x86_64:") != 2 {
		t.Fatalf("publish said:\n%s", out)
	}
	if out := runBuilder(t, nil, "publish", tree, unified); !strings.Contains(out, "unchanged") {
		t.Fatalf("publishing again said:\n%s", out)
	}

	table := runBuilder(t, nil, "tree", "list", tree)
	if !strings.Contains(table, "busybox/static/default") || !strings.Contains(table, sj.Fingerprint[:12]) || !strings.Contains(table, uj.Fingerprint[:12]) {
		t.Errorf("tree list:\n%s", table)
	}
	for _, tt := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{sj.Fingerprint, uj.Fingerprint}},
		{[]string{"busybox/static"}, []string{sj.Fingerprint}}, // the alias is the newest version's
		{[]string{uj.Fingerprint[:10]}, []string{uj.Fingerprint}},
		{[]string{"os=busybox", "rel=stat.*"}, []string{sj.Fingerprint, uj.Fingerprint}},
		{[]string{"serial=" + readSerial(t, unified)}, []string{uj.Fingerprint}},
		{[]string{"os=debian"}, nil},
		{[]string{"arch=x86_64", "type=unified"}, []string{uj.Fingerprint}}, // the image's fields, not only properties
		{[]string{"arch=amd64", "type=split"}, []string{sj.Fingerprint}},
	} {
		var got []string
		for _, img := range treeList(t, nil, tree, tt.filters...) {
			got = append(got, img.Fingerprint)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("filters %q: %v, want %v", tt.filters, got, tt.want)
		}
	}
	if out := runBuilder(t, nil, "tree", "verify", tree); !strings.Contains(out, "2 images verified") {
		t.Errorf("verify:\n%s", out)
	}

	// A corrupted file, in a copy of the tree.
	broken := filepath.Join(tmp, "broken")
	copyTree(t, tree, broken)
	rootfs := filepath.Join(broken, "images", sj.Files[1].SHA256+".squashfs")
	data, err := os.ReadFile(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	writeFile(t, rootfs, string(data))
	out, code := runBuilderCode(t, nil, "tree", "verify", broken)
	if code != 1 || !strings.Contains(out, "images/"+sj.Files[1].SHA256+".squashfs: sha256") {
		t.Errorf("verify of a corrupted file: exit %d\n%s", code, out)
	}

	// A wrong combined hash, in another copy.
	badHash := filepath.Join(tmp, "badhash")
	copyTree(t, tree, badHash)
	products := filepath.Join(badHash, "streams", "v1", "images.json")
	raw, err := os.ReadFile(products)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte(`"combined_squashfs_sha256": "`+sj.Fingerprint), []byte(`"combined_squashfs_sha256": "`+strings.Repeat("f", 64)), 1)
	writeFile(t, products, string(raw))
	out, code = runBuilderCode(t, nil, "tree", "verify", badHash)
	if code != 1 || !strings.Contains(out, "combined_squashfs_sha256") || !strings.Contains(out, "1 problems") {
		t.Errorf("verify of a bad combined hash: exit %d\n%s", code, out)
	}

	// Prune keeps the newest version; its files stay, the other's go.
	out = runBuilder(t, nil, "tree", "prune", tree, "--keep", "1")
	if !strings.Contains(out, "older than the newest 1") || !strings.Contains(out, "deleted images/"+uj.Fingerprint) {
		t.Errorf("prune:\n%s", out)
	}
	if imgs := treeList(t, nil, tree); len(imgs) != 1 || imgs[0].Fingerprint != sj.Fingerprint {
		t.Errorf("after prune: %+v", imgs)
	}
	if out, code := runBuilderCode(t, nil, "tree", "remove", tree, "busybox:nothing"); code != 1 {
		t.Errorf("removing nothing: exit %d\n%s", code, out)
	}
	runBuilder(t, nil, "tree", "remove", tree, sj.Fingerprint[:12])
	if imgs := treeList(t, nil, tree); len(imgs) != 0 {
		t.Errorf("after remove: %+v", imgs)
	}
	if entries, err := os.ReadDir(filepath.Join(tree, "images")); err != nil || len(entries) != 0 {
		t.Errorf("images/ after removing everything: %v %v", entries, err)
	}
}

func readSerial(t *testing.T, dir string) string {
	t.Helper()
	var j struct{ Properties map[string]string }
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	return j.Properties["serial"]
}

// publishConcurrently runs one builder publish process per image at once.
func publishConcurrently(t *testing.T, env []string, target string, dirs ...string) {
	t.Helper()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for _, d := range dirs {
		cmd := exec.Command(builderBinary(t), "publish", target, d)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("publish %s: %v\n%s", dirs[i], err, outs[i])
		}
	}
}

// TestPublishConcurrent runs two publish processes into one directory
// tree at once: both images land and the tree verifies.
func TestPublishConcurrent(t *testing.T) {
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	tree := filepath.Join(tmp, "tree")
	publishConcurrently(t, nil, tree, split, unified)
	if imgs := treeList(t, nil, tree); len(imgs) != 2 {
		t.Fatalf("listed %+v", imgs)
	}
	runBuilder(t, nil, "tree", "verify", tree)
}

// TestPublishS3 publishes to a real S3-compatible server on loopback,
// concurrently, then lists, verifies and prunes there.
func TestPublishS3(t *testing.T) {
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	srv := s3test.Start(t)
	env := srv.Env()
	target := "s3://" + srv.Bucket + "/nightly"
	publishConcurrently(t, env, target, split, unified)
	imgs := treeList(t, env, target)
	if len(imgs) != 2 || imgs[0].Type != "split" || imgs[1].Type != "unified" {
		t.Fatalf("listed %+v", imgs)
	}
	if out := runBuilder(t, env, "tree", "verify", target); !strings.Contains(out, "2 images verified") {
		t.Errorf("verify:\n%s", out)
	}
	if out := runBuilder(t, env, "publish", target, split); !strings.Contains(out, "unchanged") {
		t.Errorf("publishing again:\n%s", out)
	}
	runBuilder(t, env, "tree", "prune", target, "--keep", "1")
	if imgs := treeList(t, env, target); len(imgs) != 1 {
		t.Errorf("after prune: %+v", imgs)
	}
	runBuilder(t, env, "tree", "verify", target)
}
