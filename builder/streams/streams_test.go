package streams

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// fakeImage writes an output directory as pack would, with small files
// whose first bytes say what they are: gzip tarballs and a squashfs.
func fakeImage(t *testing.T, typ, release, serial string, seed uint64, expires time.Time, aliases ...string) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(seed, 1))
	gz := func(name string) image.FileInfo { return writeFakeGz(t, dir, name, rng) }
	var files []image.FileInfo
	switch typ {
	case image.TypeUnified:
		f := gz("img.tar.gz")
		f.Role = image.RoleUnified
		files = append(files, f)
	default:
		m := gz("lxd.tar.gz")
		m.Role = image.RoleMetadata
		sq := append([]byte("hsqs"), make([]byte, 1000)...)
		sq[10] = byte(seed)
		writeFile(t, filepath.Join(dir, "rootfs.squashfs"), sq)
		files = append(files, m, image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs})
	}
	fp, infos, err := image.HashFiles(dir, files...)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	j := image.ImageJSON{
		Name: "test-" + release, Fingerprint: fp, Type: typ, Architecture: "x86_64",
		Properties: map[string]string{"os": "busybox", "release": release, "variant": "default", "architecture": "amd64", "serial": serial, "description": "test " + release},
		Aliases:    aliases, Created: created, Expires: expires, Files: infos,
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFakeGz writes a gzip file of bytes from rng: the same rng state
// gives the same bytes.
func writeFakeGz(t *testing.T, dir, name string, rng *rand.Rand) image.FileInfo {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	payload := make([]byte, 2000)
	for i := range payload {
		payload[i] = byte(rng.UintN(256))
	}
	zw.Write(payload)
	zw.Close()
	writeFile(t, filepath.Join(dir, name), buf.Bytes())
	return image.FileInfo{Name: name}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newDirTree(t *testing.T) (*Tree, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	s, err := NewDirStore(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	return &Tree{Store: s}, dir
}

func listed(t *testing.T, tr *Tree, filters ...string) []string {
	t.Helper()
	imgs, err := tr.Images(context.Background(), filters...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, img := range imgs {
		out = append(out, img.Product+":"+img.Version)
	}
	return out
}

func TestPublishDirTree(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	split := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	unified := fakeImage(t, image.TypeUnified, "two", "20260102_0304", 2, time.Time{}, "mine")
	res, err := tr.Publish(ctx, []string{split, unified}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != "published" || res[1].Status != "published" {
		t.Fatalf("results %+v", res)
	}

	// The products file as clients read it.
	var p Products
	data, err := os.ReadFile(filepath.Join(dir, ProductsPath))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	sj, _ := image.ReadImageJSON(split)
	prod := p.Products["busybox:one:default:x86_64"]
	if prod == nil || prod.Arch != "x86_64" || prod.Aliases != "busybox/one/default" {
		t.Fatalf("split product %+v", prod)
	}
	v := prod.Versions["20260102_0304"]
	for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
		it := v.Items[ft]
		if it == nil || it.CombinedSquashfsSHA256 != sj.Fingerprint || it.SHA256 != sj.Files[0].SHA256 || !strings.HasSuffix(it.Path, ".tar.gz") {
			t.Errorf("%s item %+v", ft, it)
		}
	}
	if it := v.Items[FtypeSquashfs]; it == nil || it.Path != "images/"+sj.Files[1].SHA256+".squashfs" {
		t.Errorf("squashfs item %+v", it)
	}
	uprod := p.Products["busybox:two:default:x86_64"]
	if uprod == nil || uprod.Aliases != "busybox/two/default,mine" {
		t.Fatalf("unified product %+v", uprod)
	}
	uv := uprod.Versions["20260102_0304"]
	if uv.Items[FtypeLXDCombined] == nil || uv.Items[FtypeIncusCombined] == nil || uv.Items[FtypeLXDCombined].Path != uv.Items[FtypeIncusCombined].Path {
		t.Errorf("unified items %+v", uv.Items)
	}
	var idx Index
	data, _ = os.ReadFile(filepath.Join(dir, IndexPath))
	if err := json.Unmarshal(data, &idx); err != nil || !slices.Equal(idx.Index["images"].Products, []string{"busybox:one:default:x86_64", "busybox:two:default:x86_64"}) {
		t.Fatalf("index %s (%v)", data, err)
	}

	// Again: nothing changes, not even the file.
	before, _ := os.Stat(filepath.Join(dir, ProductsPath))
	res, err = tr.Publish(ctx, []string{split, unified}, false)
	if err != nil || res[0].Status != "unchanged" {
		t.Fatalf("republish: %+v %v", res, err)
	}
	after, _ := os.Stat(filepath.Join(dir, ProductsPath))
	if !before.ModTime().Equal(after.ModTime()) {
		t.Error("a no-op publish rewrote images.json")
	}

	// Same version, other bytes: refused, then replaced.
	other := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 3, time.Time{})
	if _, err := tr.Publish(ctx, []string{other}, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("publishing another image under the same version: %v", err)
	}
	if res, err := tr.Publish(ctx, []string{other}, true); err != nil || res[0].Status != "replaced" {
		t.Fatalf("replace: %+v %v", res, err)
	}
	// The replaced squashfs is gone, the new one is there.
	if _, err := os.Stat(filepath.Join(dir, "images", sj.Files[1].SHA256+".squashfs")); !os.IsNotExist(err) {
		t.Errorf("the replaced rootfs is still there: %v", err)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
}

func TestPublishRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	img := fakeImage(t, image.TypeUnified, "one", "20260102_0304", 1, time.Time{})
	j, _ := image.ReadImageJSON(img)
	f := filepath.Join(img, j.Files[0].Name)
	data, _ := os.ReadFile(f)
	data[len(data)-1] ^= 1
	writeFile(t, f, data)
	_, err := tr.Publish(ctx, []string{img}, false)
	if err == nil || !strings.Contains(err.Error(), "image.json says") {
		t.Fatalf("publishing a corrupted file: %v", err)
	}
	if names, _ := tr.Store.List(ctx, ImagesDir); len(names) != 0 {
		t.Errorf("a corrupted file reached the tree: %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, ProductsPath)); !os.IsNotExist(err) {
		t.Errorf("images.json written: %v", err)
	}

	bad := fakeImage(t, image.TypeUnified, "one", "2026-01-02", 1, time.Time{})
	if _, err := tr.Publish(ctx, []string{bad}, false); err == nil || !strings.Contains(err.Error(), "YYYYMMDD") {
		t.Fatalf("a bad serial: %v", err)
	}
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	tr, _ := newDirTree(t)
	var dirs []string
	for i, s := range []string{"20260101_0000", "20260102_0000", "20260103_0000"} {
		dirs = append(dirs, fakeImage(t, image.TypeUnified, "one", s, uint64(10+i), time.Time{}, "one-alias"))
	}
	dirs = append(dirs, fakeImage(t, image.TypeSplit, "two", "20260101_0000", 20, time.Time{}))
	if _, err := tr.Publish(ctx, dirs, false); err != nil {
		t.Fatal(err)
	}
	newest, _ := image.ReadImageJSON(dirs[2])
	for _, tt := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"busybox:one:default:x86_64:20260103_0000", "busybox:one:default:x86_64:20260102_0000", "busybox:one:default:x86_64:20260101_0000", "busybox:two:default:x86_64:20260101_0000"}},
		{[]string{"one-al"}, []string{"busybox:one:default:x86_64:20260103_0000"}},
		{[]string{"busybox/two"}, []string{"busybox:two:default:x86_64:20260101_0000"}},
		{[]string{newest.Fingerprint[:8]}, []string{"busybox:one:default:x86_64:20260103_0000"}},
		{[]string{"rel=two"}, []string{"busybox:two:default:x86_64:20260101_0000"}},
		{[]string{"release=t"}, nil},
		{[]string{"serial=2026010[12]_.*", "release=one"}, []string{"busybox:one:default:x86_64:20260102_0000", "busybox:one:default:x86_64:20260101_0000"}},
		{[]string{"description=test one", "nothing"}, nil},
	} {
		if got := listed(t, tr, tt.filters...); !slices.Equal(got, tt.want) {
			t.Errorf("filters %q: got %q, want %q", tt.filters, got, tt.want)
		}
	}
}

func TestRemovePruneVerify(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	tr.Now = func() time.Time { return now }
	var dirs []string
	for i, s := range []string{"20260101_0000", "20260102_0000", "20260103_0000", "20260104_0000"} {
		exp := time.Time{}
		if i == 0 {
			exp = now.Add(-time.Hour) // expired
		}
		dirs = append(dirs, fakeImage(t, image.TypeSplit, "one", s, uint64(30+i), exp))
	}
	dirs = append(dirs, fakeImage(t, image.TypeUnified, "two", "20260101_0000", 40, time.Time{}))
	if _, err := tr.Publish(ctx, dirs, false); err != nil {
		t.Fatal(err)
	}
	files, _ := tr.Store.List(ctx, ImagesDir)
	if len(files) != 9 {
		t.Fatalf("%d files in images/, want 9: %v", len(files), files)
	}

	removed, err := tr.Prune(ctx, 2, true)
	if err != nil || len(removed) != 2 {
		t.Fatalf("dry run: %v %v", removed, err)
	}
	if got := listed(t, tr); len(got) != 5 {
		t.Fatalf("a dry run removed something: %v", got)
	}
	removed, err = tr.Prune(ctx, 2, false)
	if err != nil || !slices.Equal(removed, []string{"busybox:one:default:x86_64:20260102_0000", "busybox:one:default:x86_64:20260101_0000"}) {
		t.Fatalf("prune: %v %v", removed, err)
	}
	if files, _ := tr.Store.List(ctx, ImagesDir); len(files) != 5 {
		t.Fatalf("after prune %d files, want 5: %v", len(files), files)
	}

	two, _ := image.ReadImageJSON(dirs[4])
	if err := tr.Remove(ctx, two.Fingerprint[:12]); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove(ctx, "busybox:one:default:x86_64:20260103_0000"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove(ctx, "busybox:nothing"); err == nil {
		t.Fatal("removing what is not there succeeded")
	}
	if got := listed(t, tr); !slices.Equal(got, []string{"busybox:one:default:x86_64:20260104_0000"}) {
		t.Fatalf("left: %v", got)
	}
	if problems, err := tr.Verify(ctx); err != nil || len(problems) != 0 {
		t.Fatalf("verify a good tree: %v %v", problems, err)
	}

	// Corrupt the rootfs file and the combined hash.
	p, _ := tr.Read(ctx)
	v := p.Products["busybox:one:default:x86_64"].Versions["20260104_0000"]
	sq := filepath.Join(dir, v.Items[FtypeSquashfs].Path)
	data, _ := os.ReadFile(sq)
	data[100] ^= 0xff
	writeFile(t, sq, data)
	v.Items[FtypeIncusMeta].CombinedSquashfsSHA256 = strings.Repeat("0", 64)
	raw, _ := marshalJSON(p)
	writeFile(t, filepath.Join(dir, ProductsPath), raw)
	problems, err := tr.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprint(problems)
	for _, want := range []string{v.Items[FtypeSquashfs].Path + ": sha256", "incus.tar.xz item's combined_squashfs_sha256", "lxd.tar.xz item's combined_squashfs_sha256"} {
		if !strings.Contains(text, want) {
			t.Errorf("problems %s lack %q", text, want)
		}
	}
}

func TestDirLockExcludes(t *testing.T) {
	tr, _ := newDirTree(t)
	unlock, err := tr.Store.Lock(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := tr.Store.Lock(ctx, "second"); err == nil {
		t.Fatal("two holders of one lock")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlock, err = tr.Store.Lock(context.Background(), "third")
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestS3ConfigFromEnv(t *testing.T) {
	cfg, err := S3ConfigFromEnv([]string{"AWS_ENDPOINT_URL=http://127.0.0.1:9000", "AWS_ENDPOINT_URL_S3=", "AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_REGION=r"})
	if err != nil || cfg.Endpoint != "127.0.0.1:9000" || !cfg.Insecure || cfg.Region != "r" {
		t.Fatalf("%+v %v", cfg, err)
	}
	cfg, err = S3ConfigFromEnv([]string{"AWS_ENDPOINT_URL_S3=s3.internal:443", "AWS_ENDPOINT_URL=http://other"})
	if err != nil || cfg.Endpoint != "s3.internal:443" || cfg.Insecure {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, env := range [][]string{nil, {"AWS_ENDPOINT_URL=ftp://x"}, {"AWS_ENDPOINT_URL=https://x/path"}, {"AWS_ENDPOINT_URL=https://x", "AWS_ACCESS_KEY_ID=a"}} {
		if _, err := S3ConfigFromEnv(env); err == nil {
			t.Errorf("%q accepted", env)
		}
	}
}
