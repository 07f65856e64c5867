package doctor

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
)

// fakeScriptsDir is debootstrap's scripts directory as on Debian 12:
// gutsy and sid, links up to jammy and bookworm, no noble.
func fakeScriptsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gutsy"), "keyring /usr/share/keyrings/ubuntu-archive-keyring.gpg\n")
	writeFile(t, filepath.Join(dir, "sid"), "keyring /usr/share/keyrings/debian-archive-keyring.gpg\n")
	for link, target := range map[string]string{"jammy": "gutsy", "bookworm": "sid"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeNeeds is a split squashfs recipe of distribution (from the suite's
// family) built on amd64.
func fakeNeeds(t *testing.T, name string, arch image.Architecture, b *bootstrap.Config) Needs {
	t.Helper()
	dist := "debian"
	if b.Suite == "noble" || b.Suite == "jammy" {
		dist = "ubuntu"
	}
	host := HostNeeds{Backend: b.Backend, Arch: arch, Foreign: arch.Distribution != "amd64" && arch.Distribution != "i386",
		Squashfs: true, StepTools: b.Tools(), Bootstrap: b, Distribution: dist}
	return Needs{recipe: name, output: "split squashfs", host: &host, arch: &arch}
}

// statExcept is a stat that finds every file but those given.
func statExcept(missing ...string) func(string) (os.FileInfo, error) {
	return func(p string) (os.FileInfo, error) {
		for _, m := range missing {
			if p == m {
				return nil, fs.ErrNotExist
			}
		}
		return nil, nil
	}
}

const ubuntuKeyring = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"

func TestDoctorHostToolsOfARecipe(t *testing.T) {
	arm64, _ := image.LookupArchitecture("arm64")
	amd64, _ := image.LookupArchitecture("amd64")
	// What a fresh machine lacked: mmdebstrap refuses arm64 without
	// arch-test, and doctor said nothing of it.
	e := fakeDoctorEnv(t)
	e.lookPath = func(name string) (string, error) {
		if name == "arch-test" || strings.HasSuffix(name, "/arch-test") {
			return "", exec.ErrNotFound
		}
		return "/usr/bin/" + name, nil
	}
	n := fakeNeeds(t, "arm.hcl", arm64, &bootstrap.Config{Backend: "mmdebstrap", Suite: "bookworm"})
	lines, failed := runFakeChecks(t, e, n)
	if !failed {
		t.Error("a missing arch-test did not fail an arm64 mmdebstrap recipe")
	}
	wantStatus(t, lines, "arch-test", "FAIL", `(needed for bootstrap "mmdebstrap" for a foreign architecture); fix: apt-get install arch-test`)
	wantStatus(t, lines, "qemu-aarch64-static", "ok", "/usr/bin/qemu-aarch64-static")
	wantStatus(t, lines, "update-binfmts", "ok")
	wantStatus(t, lines, "keyring", "ok", "/usr/share/keyrings/debian-archive-keyring.gpg (mmdebstrap's default keyring for debian)")
	if _, ok := lines["script"]; ok {
		t.Error("mmdebstrap needs no script, yet doctor checks one")
	}
	if got := n.Describe(); got != "arm.hcl: arm64, mmdebstrap bootstrap, split squashfs output; needs mmdebstrap, mksquashfs, qemu-aarch64-static, update-binfmts, arch-test, the binfmt handler qemu-aarch64" {
		t.Errorf("recipe line: %s", got)
	}
	// Natively, arch-test is not needed.
	lines, _ = runFakeChecks(t, e, fakeNeeds(t, "native.hcl", amd64, &bootstrap.Config{Backend: "mmdebstrap", Suite: "bookworm"}))
	wantStatus(t, lines, "arch-test", "warn", "(native.hcl does not need it)")
	wantStatus(t, lines, "qemu-user-static", "ok", "qemu-aarch64-static")
}

func TestDoctorUbuntuOnDebian(t *testing.T) {
	amd64, _ := image.LookupArchitecture("amd64")
	pins := []string{"F6EC B376 2474 EDA9 D21B  7022 8719 20D1 991B C93C"}
	e := fakeDoctorEnv(t)
	e.stat = statExcept(ubuntuKeyring)

	// recipes/ubuntu.hcl as shipped, on Debian 12: it used to pass.
	lines, failed := runFakeChecks(t, e, fakeNeeds(t, "u.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "noble", Keyring: ubuntuKeyring, KeyringFingerprints: pins}))
	if !failed {
		t.Error("a missing Ubuntu keyring did not fail")
	}
	wantStatus(t, lines, "keyring", "FAIL", "the recipe's keyring, "+ubuntuKeyring+", does not exist",
		"fix: Debian does not package Ubuntu's archive keyring: point the recipe's keyring at an https URL of it with keyring_fingerprints")
	wantStatus(t, lines, "script", "ok", "this debootstrap has no script for noble; builder runs it with "+filepath.Join(e.scriptsDir, "gutsy")+", as debootstrap does every ubuntu suite since gutsy")

	// With the keyring's URL.
	lines, failed = runFakeChecks(t, e, fakeNeeds(t, "u.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "noble", Keyring: "https://archive.example/k.gpg", KeyringFingerprints: pins}))
	if failed {
		t.Errorf("with a keyring URL, a check failed: %v", lines)
	}
	wantStatus(t, lines, "keyring", "ok", "fetched from https://archive.example/k.gpg at build time, pinned to 1 key")

	// No keyring named: debootstrap's default for the suite is missing,
	// and debootstrap would go on without checking signatures.
	lines, _ = runFakeChecks(t, e, fakeNeeds(t, "u.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "noble"}))
	wantStatus(t, lines, "keyring", "FAIL", "debootstrap's default keyring for noble, "+ubuntuKeyring+", does not exist: debootstrap would bootstrap without checking the archive's signatures")
	lines, _ = runFakeChecks(t, e, fakeNeeds(t, "u.hcl", amd64, &bootstrap.Config{Backend: "mmdebstrap", Suite: "noble"}))
	wantStatus(t, lines, "keyring", "FAIL", "mmdebstrap's default keyring for ubuntu, "+ubuntuKeyring+", does not exist: apt would refuse the archive")
	e.stat = statExcept()
	lines, _ = runFakeChecks(t, e, fakeNeeds(t, "u.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "jammy"}))
	wantStatus(t, lines, "keyring", "ok", ubuntuKeyring+" (debootstrap's default keyring for jammy)")
	wantStatus(t, lines, "script", "ok", filepath.Join(e.scriptsDir, "jammy"))

	// A distribution whose family builder does not know.
	n := fakeNeeds(t, "d.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "daedalus"})
	n.host.Distribution = "devuan"
	lines, failed = runFakeChecks(t, e, n)
	if !failed {
		t.Error("a suite without a script did not fail")
	}
	wantStatus(t, lines, "script", "FAIL", "no script for the suite daedalus", `fix: use bootstrap "mmdebstrap", which needs no script`)
}
