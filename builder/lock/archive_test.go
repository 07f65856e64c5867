package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/internal/testenv"
)

// signedArchive makes a file:// archive of one suite whose InRelease a
// throwaway key signs, and returns its URL and the key's keyring.
func signedArchive(t *testing.T, packages string) (url, keyring string) {
	t.Helper()
	return signedArchiveOf(t, map[string]string{"amd64": packages})
}

// signedArchiveOf is signedArchive with an index per architecture.
func signedArchiveOf(t *testing.T, indices map[string]string) (url, keyring string) {
	t.Helper()
	testenv.Command(t, "gpg", "gpg")
	testenv.Command(t, "apt-get", "apt")
	dir := t.TempDir()
	home := filepath.Join(dir, "gnupg")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--batch", "--homedir", home, "--passphrase", "", "--pinentry-mode", "loopback"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	t.Cleanup(func() { _ = exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run() })
	gpg("--quick-gen-key", "builder lock test <lock@example.invalid>", "ed25519", "sign", "never")
	keyring = filepath.Join(dir, "key.gpg")
	if err := os.WriteFile(keyring, gpg("--export"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "archive")
	archs := slices.Sorted(maps.Keys(indices))
	var sums strings.Builder
	for _, arch := range archs {
		packages := indices[arch]
		name := "main/binary-" + arch + "/Packages"
		index := filepath.Join(archive, "dists/bookworm", name)
		if err := os.MkdirAll(filepath.Dir(index), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(index, []byte(packages), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(packages))
		fmt.Fprintf(&sums, " %s %d %s\n", hex.EncodeToString(sum[:]), len(packages), name)
	}
	release := fmt.Sprintf("Suite: bookworm\nCodename: bookworm\nArchitectures: %s\nComponents: main\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n%s",
		strings.Join(archs, " "), sums.String())
	releasePath := filepath.Join(archive, "dists/bookworm/Release")
	if err := os.WriteFile(releasePath, []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	gpg("--clearsign", "--output", filepath.Join(archive, "dists/bookworm/InRelease"), releasePath)
	return "file://" + archive, keyring
}

// TestAvailableMultiarch: a multiarch image's lock has packages of a
// foreign architecture (libc6:i386); the check fetches that
// architecture's indices too, so they are found, and a foreign version
// the archive lacks is still missing.
func TestAvailableMultiarch(t *testing.T) {
	url, keyring := signedArchiveOf(t, map[string]string{
		"amd64": "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n\nPackage: adduser\nVersion: 3.134\nArchitecture: all\n",
		"i386":  "Package: libc6\nVersion: 2.36-9\nArchitecture: i386\n",
	})
	b := &Block{Key: Key{Architecture: "amd64"}, Packages: []Package{
		{Name: "adduser", Version: "3.134", Architecture: "all"},
		{Name: "libc6", Version: "2.36-9", Architecture: "amd64"},
		{Name: "libc6", Version: "2.36-9", Architecture: "i386"},
		{Name: "zlib1g", Version: "1:1.2.13", Architecture: "i386"},
	}}
	if got := b.Architectures(); !slices.Equal(got, []string{"amd64", "i386"}) {
		t.Errorf("Architectures() = %v", got)
	}
	src := Source{URL: url, Suites: []string{"bookworm"}, Components: []string{"main"}, Keyring: keyring}
	avail, err := Available(context.Background(), []Source{src}, b.Architectures(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if missing := Missing(avail, b.Packages); len(missing) != 1 || missing[0].String() != "zlib1g=1:1.2.13 (i386)" {
		t.Errorf("missing %v, want only zlib1g (i386) (available %v)", missing, avail)
	}
}

// TestAvailableSignedArchive: the archive check reads a signed archive's
// indices with the host's apt-get, in a private state; a version it
// lacks is missing; an index that does not match the signed Release, or
// a keyring without the signer, fails the check rather than pass it.
func TestAvailableSignedArchive(t *testing.T) {
	const index = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\nPackage: adduser\nVersion: 3.134\nArchitecture: all\n"
	url, keyring := signedArchive(t, index)
	ctx := context.Background()
	src := Source{URL: url, Suites: []string{"bookworm"}, Components: []string{"main"}, Keyring: keyring}
	avail, err := Available(ctx, []Source{src}, []string{"amd64"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	locked := []Package{{Name: "hello", Version: "2.10-3", Architecture: "amd64"}, {Name: "adduser", Version: "3.134", Architecture: "all"},
		{Name: "hello", Version: "9.9-builder-missing", Architecture: "amd64"}}
	missing := Missing(avail, locked)
	if len(missing) != 1 || missing[0].String() != "hello=9.9-builder-missing (amd64)" {
		t.Errorf("missing %v (available %v)", missing, avail)
	}

	_, otherKeyring := signedArchive(t, index)
	bad := src
	bad.Keyring = otherKeyring
	if _, err := Available(ctx, []Source{bad}, []string{"amd64"}, t.TempDir()); err == nil {
		t.Error("an archive signed by another key passed the check")
	} else if !strings.Contains(err.Error(), "is not signed") && !strings.Contains(err.Error(), "NO_PUBKEY") {
		t.Errorf("another key: %v", err)
	}
	indexPath := filepath.Join(strings.TrimPrefix(url, "file://"), "dists/bookworm/main/binary-amd64/Packages")
	if err := os.WriteFile(indexPath, []byte(strings.Replace(index, "2.10-3", "2.10-4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if avail, err := Available(ctx, []Source{src}, []string{"amd64"}, t.TempDir()); err == nil {
		t.Errorf("an index the Release does not sign passed the check: %v", avail)
	} else if !strings.Contains(err.Error(), "Hash Sum mismatch") {
		t.Errorf("a tampered index: %v", err)
	}
}

// TestPinsWithApt: the preferences build --locked writes make the host's
// apt choose the locked version over a newer one the archive has, as
// apt in the image does while a packages block runs (it reads the same
// preferences.d).
func TestPinsWithApt(t *testing.T) {
	const index = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\nPackage: hello\nVersion: 2.10-4\nArchitecture: amd64\n"
	url, keyring := signedArchive(t, index)
	dir := t.TempDir()
	if _, err := writeState(dir, []Source{{URL: url, Suites: []string{"bookworm"}, Components: []string{"main"}, Keyring: keyring}}); err != nil {
		t.Fatal(err)
	}
	apt := func(tool string, args ...string) string {
		t.Helper()
		out, err := exec.Command(tool, append(AptArgs(dir, "amd64"), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
		return string(out)
	}
	apt("apt-get", "update")
	if out := apt("apt-cache", "policy", "hello"); !strings.Contains(out, "Candidate: 2.10-4") {
		t.Fatalf("unpinned, apt's candidate is not the newest:\n%s", out)
	}
	b := &Block{Packages: []Package{{Name: "hello", Version: "2.10-3", Architecture: "amd64"}}}
	prefs, err := packages.AptPreferences(b.Pins())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/preferences.d", filepath.Base(packages.PinsPath)), []byte(prefs), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := apt("apt-cache", "policy", "hello"); !strings.Contains(out, "Candidate: 2.10-3") || !strings.Contains(out, "1001") {
		t.Errorf("pinned, apt's candidate is not the locked version:\n%s", out)
	}
}

// TestSourcesOf: the sources the check reads are the build's: the
// bootstrap's archive (a snapshot's directory, with check-valid-until=no;
// the lock's mirror when the recipe names none), and each repository
// with its own key, or the archive's when it has none.
func TestSourcesOf(t *testing.T) {
	dir := t.TempDir()
	keyring := filepath.Join(dir, "archive.gpg")
	if err := os.WriteFile(keyring, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	bs := &bootstrap.Config{Backend: "debootstrap", Suite: "bookworm", Mirror: "https://snapshot.example/archive/debian", Snapshot: "20250101T000000Z", Keyring: keyring}
	plan := &recipe.Plan{Image: recipe.Image{Distribution: "debian"}, Steps: []recipe.Step{
		{Kind: "bootstrap", Name: "debootstrap", Enabled: true, Action: bs},
		{Kind: "repository", Name: "own", Enabled: true, Action: &packages.Repository{Name: "own", Types: []string{"deb"}, URL: "https://repo.example/x", Suites: []string{"stable"}, Components: []string{"main"}, Key: "-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n"}},
		{Kind: "repository", Name: "bpo", Enabled: true, Action: &packages.Repository{Name: "bpo", Types: []string{"deb"}, URL: "https://mirror.example/debian", Suites: []string{"bookworm-backports"}, Components: []string{"main"}}},
		{Kind: "repository", Name: "src", Enabled: true, Action: &packages.Repository{Name: "src", Types: []string{"deb-src"}, URL: "https://src.example/", Suites: []string{"x"}}},
	}}
	work := t.TempDir()
	sources, err := SourcesOf(context.Background(), plan, &Block{}, work)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range sources {
		lines = append(lines, s.Line())
	}
	want := []string{
		"deb [signed-by=" + keyring + " check-valid-until=no] https://snapshot.example/archive/debian/20250101T000000Z/ bookworm main",
		"deb [signed-by=" + filepath.Join(work, "repository-own.asc") + "] https://repo.example/x stable main",
		"deb [signed-by=" + keyring + "] https://mirror.example/debian bookworm-backports main",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("sources:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// No mirror in the recipe: the lock's.
	bs.Mirror, bs.Snapshot = "", ""
	sources, err = SourcesOf(context.Background(), plan, &Block{Mirror: "http://chosen.example/debian"}, work)
	if err != nil || sources[0].URL != "http://chosen.example/debian" || sources[0].Snapshot {
		t.Errorf("the lock's mirror: %+v (%v)", sources, err)
	}
	if _, err := SourcesOf(context.Background(), plan, &Block{}, work); err == nil {
		t.Error("no mirror anywhere, and no error")
	}
}

// TestStageSuites: mmdebstrap without a mirror writes the suite's
// -updates and -security lines too (with signed-by options), and
// installs from them: the lock records them beside the mirror, they
// survive the codec, and the archive check reads them with the
// archive's keyring; a recipe that names its mirror reads its own only.
func TestStageSuites(t *testing.T) {
	const list = "deb [signed-by=/usr/share/keyrings/archive.gpg] http://mirror.example/debian bookworm main\n" +
		"deb http://mirror.example/debian bookworm-updates main\n" +
		"deb http://security.example/debian-security bookworm-security main contrib\n" +
		"deb https://third.example/x stable main\n# deb http://old.example/debian bookworm-backports main\n"
	mirror, suites, err := parseStageSources(strings.NewReader(list), "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	want := []SuiteSource{{URL: "http://mirror.example/debian", Suite: "bookworm-updates", Components: []string{"main"}},
		{URL: "http://security.example/debian-security", Suite: "bookworm-security", Components: []string{"main", "contrib"}}}
	if mirror != "http://mirror.example/debian" || fmt.Sprint(suites) != fmt.Sprint(want) {
		t.Errorf("mirror %q, suites %+v", mirror, suites)
	}
	if _, _, err := parseStageSources(strings.NewReader("deb http://m.example/debian trixie main\n"), "bookworm"); err == nil {
		t.Error("no line of the suite, and no error")
	}

	f := &File{}
	f.Put(Block{Key: Key{Architecture: "amd64", InstanceType: "container"}, Mirror: mirror, Suites: suites})
	back, err := Parse(Encode(f), "r.lock.hcl")
	if err != nil {
		t.Fatalf("%v\n%s", err, Encode(f))
	}
	if got := back.Blocks[0].Suites; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("suites after the codec: %+v\n%s", got, Encode(f))
	}
	if _, err := Parse([]byte("build {\n  architecture = \"amd64\"\n  instance_type = \"c\"\n  suite \"x y\" {\n    url = \"http://a.example/\"\n    components = \"main\"\n  }\n}\n"), "r.lock.hcl"); err == nil || !strings.Contains(err.Error(), `r.lock.hcl:4:9: suite "x y" is not a suite name`) {
		t.Errorf("a bad suite: %v", err)
	}

	dir := t.TempDir()
	keyring := filepath.Join(dir, "archive.gpg")
	if err := os.WriteFile(keyring, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	bs := &bootstrap.Config{Backend: "mmdebstrap", Suite: "bookworm", Keyring: keyring}
	plan := &recipe.Plan{Image: recipe.Image{Distribution: "debian"}, Steps: []recipe.Step{{Kind: "bootstrap", Name: "mmdebstrap", Enabled: true, Action: bs}}}
	sources, err := SourcesOf(context.Background(), plan, &back.Blocks[0], dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range sources {
		lines = append(lines, s.Line())
	}
	wantLines := "deb [signed-by=" + keyring + "] http://mirror.example/debian bookworm main\n" +
		"deb [signed-by=" + keyring + "] http://mirror.example/debian bookworm-updates main\n" +
		"deb [signed-by=" + keyring + "] http://security.example/debian-security bookworm-security main contrib"
	if got := strings.Join(lines, "\n"); got != wantLines {
		t.Errorf("sources:\n%s\nwant\n%s", got, wantLines)
	}
	bs.Mirror = "http://own.example/debian"
	if sources, err := SourcesOf(context.Background(), plan, &back.Blocks[0], dir); err != nil || len(sources) != 1 {
		t.Errorf("a recipe with its mirror: %+v %v", sources, err)
	}
}
