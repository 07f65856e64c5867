package bootstrap

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

// TestSnapshotArgv: a snapshot makes the tool bootstrap from
// MIRROR/SNAPSHOT/, mmdebstrap's apt accepting its expired Release, and
// the image's sources.list says the same with check-valid-until=no.
func TestSnapshotArgv(t *testing.T) {
	amd64, _ := image.LookupArchitecture("amd64")
	b := &Config{Suite: "bookworm", Mirror: "https://snapshot.example/archive/debian/", Snapshot: "20250101T000000Z"}
	if got := b.ArchiveMirror(); got != "https://snapshot.example/archive/debian/20250101T000000Z/" {
		t.Errorf("ArchiveMirror = %s", got)
	}
	argv, err := debootstrapBackend{tool: "debootstrap"}.argv(amd64, b, "", SuiteScript{}, "/r")
	if want := "debootstrap --arch=amd64 --foreign bookworm /r https://snapshot.example/archive/debian/20250101T000000Z/"; err != nil || strings.Join(argv, " ") != want {
		t.Errorf("debootstrap argv:\n got %s (%v)\nwant %s", strings.Join(argv, " "), err, want)
	}
	argv, err = debootstrapBackend{tool: "mmdebstrap"}.argv(amd64, b, "", SuiteScript{}, "/r")
	want := `mmdebstrap --arch=amd64 --mode=root --skip=check/empty --skip=chroot/mount --dpkgopt=force-unsafe-io --aptopt=Acquire::Check-Valid-Until "false" bookworm /r https://snapshot.example/archive/debian/20250101T000000Z/`
	if err != nil || strings.Join(argv, " ") != want {
		t.Errorf("mmdebstrap argv:\n got %s (%v)\nwant %s", strings.Join(argv, " "), err, want)
	}
	if got := SnapshotSources(b); got != "deb [check-valid-until=no] https://snapshot.example/archive/debian/20250101T000000Z/ bookworm main\n" {
		t.Errorf("sources.list: %q", got)
	}
}

// TestSnapshotSourcesWritten: the image's sources.list after the tool
// (root: the file is root's).
func TestSnapshotSourcesWritten(t *testing.T) {
	testenv.Root(t)
	b := &Config{Suite: "bookworm", Mirror: "https://snapshot.example/archive/debian/", Snapshot: "20250101T000000Z"}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/apt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/apt/sources.list"), []byte("deb https://snapshot.example/archive/debian/20250101T000000Z/ bookworm main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSnapshotSources(dir, b); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "etc/apt/sources.list")); string(data) != SnapshotSources(b) {
		t.Errorf("the image's sources.list: %q", data)
	}
	if err := writeSnapshotSources(t.TempDir(), &Config{Suite: "bookworm"}); err != nil {
		t.Errorf("without a snapshot: %v", err)
	}
}

// TestMmdebstrapPins: build --locked's pins reach mmdebstrap's apt as
// preferences in the target, and leave it when mmdebstrap is done;
// debootstrap, which has no solver to pin, gets none.
func TestMmdebstrapPins(t *testing.T) {
	b := &Config{Suite: "bookworm", Pins: []string{"libc6=2.36-9+deb12u9", "base-files=12.4+deb12u9"}}
	env := Env{WorkDir: t.TempDir()}
	if path, err := (debootstrapBackend{tool: "debootstrap"}).pinsFile(env, b); err != nil || path != "" {
		t.Errorf("debootstrap pins file %q (%v)", path, err)
	}
	path, err := debootstrapBackend{tool: "mmdebstrap"}.pinsFile(env, b)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: libc6\nPin: version 2.36-9+deb12u9\nPin-Priority: 1001\n", "Package: base-files\nPin: version 12.4+deb12u9\nPin-Priority: 1001\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("preferences lack %q:\n%s", want, data)
		}
	}
	argv := withPinHooks([]string{"mmdebstrap", "--arch=amd64", "bookworm", "/r"}, path)
	got := strings.Join(argv, "\x00")
	for _, want := range []string{"mmdebstrap\x00--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\"\x00--setup-hook=copy-in '" + path + "' /etc/apt/preferences.d\x00",
		"--customize-hook=rm -f \"$1/etc/apt/preferences.d/zz-builder-lock.pref\"\x00--arch=amd64\x00bookworm\x00/r"} {
		if !strings.Contains(got, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	if _, err := (debootstrapBackend{tool: "mmdebstrap"}).pinsFile(env, &Config{Pins: []string{"a=1\nPackage: b"}}); err == nil {
		t.Error("a pin with a newline was written")
	}
}

// TestPinHookQuoted: the copy-in hook's path stays one argument as
// mmdebstrap's parser (perl's Text::ParseWords::shellwords) splits it,
// for a work directory with spaces, quotes or a backslash in its path.
func TestPinHookQuoted(t *testing.T) {
	testenv.Command(t, "perl", "perl")
	path := "/srv/my builds/it's \\ \"here\"/.builder-pins-1/zz-builder-lock.pref"
	var hook string
	for _, a := range withPinHooks([]string{"mmdebstrap"}, path) {
		if h, ok := strings.CutPrefix(a, "--setup-hook=copy-in"); ok {
			hook = "copy-in" + h
		}
	}
	out, err := exec.Command("perl", "-MText::ParseWords", "-e", `print join("\0", shellwords($ARGV[0]))`, hook).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(string(out), "\x00"); len(got) != 3 || got[1] != path || got[2] != "/etc/apt/preferences.d" {
		t.Errorf("mmdebstrap reads the hook %q as %q", hook, got)
	}
}
