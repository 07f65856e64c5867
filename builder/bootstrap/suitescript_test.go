package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// fakeScripts is a debootstrap scripts directory as Debian 12's: gutsy
// and sid scripts, links up to jammy and bookworm.
func fakeScripts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"gutsy": "mirror_style release\nkeyring /usr/share/keyrings/ubuntu-archive-keyring.gpg\n",
		"sid":   "mirror_style release\nkeyring /usr/share/keyrings/debian-archive-keyring.gpg\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"jammy": "gutsy", "bookworm": "sid"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindSuiteScript(t *testing.T) {
	dir := fakeScripts(t)
	for _, tt := range []struct {
		distribution, suite string
		path, family        string
		keyring             string
	}{
		{"ubuntu", "jammy", "jammy", "", "ubuntu-archive-keyring.gpg"},
		{"ubuntu", "noble", "gutsy", "gutsy", "ubuntu-archive-keyring.gpg"},
		{"Ubuntu", "plucky", "gutsy", "gutsy", "ubuntu-archive-keyring.gpg"},
		{"debian", "bookworm", "bookworm", "", "debian-archive-keyring.gpg"},
		{"debian", "forky", "sid", "sid", "debian-archive-keyring.gpg"},
	} {
		s, err := FindSuiteScript(dir, tt.distribution, tt.suite)
		if err != nil {
			t.Errorf("%s %s: %v", tt.distribution, tt.suite, err)
			continue
		}
		if s.Path != filepath.Join(dir, tt.path) || s.Family != tt.family {
			t.Errorf("%s %s: %+v, want script %s, family %q", tt.distribution, tt.suite, s, tt.path, tt.family)
		}
		if k, err := s.DefaultKeyring(); err != nil || k != "/usr/share/keyrings/"+tt.keyring {
			t.Errorf("%s %s: default keyring %q %v", tt.distribution, tt.suite, k, err)
		}
	}
	_, err := FindSuiteScript(dir, "devuan", "daedalus")
	var none *NoSuiteScriptError
	if !errors.As(err, &none) || !strings.Contains(err.Error(), "no script for the suite daedalus") || !strings.Contains(err.Error(), "knows no script for devuan suites (it does for debian and ubuntu)") {
		t.Errorf("unknown family: %v", err)
	}
}

// TestDebootstrapCommandForUbuntu is the command recipes/ubuntu.hcl runs
// on a Debian 12 host, whose debootstrap has no noble script: the
// empty mirror (debootstrap's default) and gutsy's script follow the
// target, the keyring is builder's pinned copy in the work directory.
func TestDebootstrapCommandForUbuntu(t *testing.T) {
	plan, diags := recipe.NewLoader().Load("../../recipes/ubuntu.hcl", recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	b := plan.Bootstrap()
	env := Env{Arch: plan.Image.Architecture, Distribution: plan.Image.Distribution, ScriptsDir: fakeScripts(t)}
	d := debootstrapBackend{tool: "debootstrap"}
	script, err := d.script(env, b)
	if err != nil {
		t.Fatal(err)
	}
	argv, err := d.argv(env.Arch, b, "/work/keyrings/k.gpg", script, isolation.ToolViewImage)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"debootstrap", "--arch=amd64", "--foreign", "--variant=minbase", "--components=main,universe",
		"--include=systemd-sysv,systemd-resolved,iproute2,ca-certificates", "--keyring=/work/keyrings/k.gpg",
		"noble", "/target", "", "gutsy"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv\n got %q\nwant %q", argv, want)
	}
	if in := d.hostInputs(b, "/work/keyrings/k.gpg"); !slices.Equal(in, []string{"/work/keyrings/k.gpg"}) {
		t.Errorf("the tool's view gets %v, want the pinned keyring", in)
	}

	// With a mirror, and for a suite debootstrap knows, nothing changes.
	b.Mirror = "http://mirror.example/ubuntu"
	argv, _ = d.argv(env.Arch, b, "", script, isolation.ToolViewImage)
	if got := argv[len(argv)-2:]; !slices.Equal(got, []string{"http://mirror.example/ubuntu", "gutsy"}) {
		t.Errorf("with a mirror, argv ends %q", got)
	}
	b.Suite = "jammy"
	if script, err = d.script(env, b); err != nil || script.Family != "" {
		t.Errorf("jammy: %+v %v", script, err)
	}
	argv, _ = d.argv(env.Arch, b, "", script, isolation.ToolViewImage)
	if got := argv[len(argv)-3:]; !slices.Equal(got, []string{"jammy", "/target", "http://mirror.example/ubuntu"}) {
		t.Errorf("jammy argv ends %q", got)
	}
	// mmdebstrap needs no script.
	if s, err := (debootstrapBackend{tool: "mmdebstrap"}).script(env, &recipe.Bootstrap{Suite: "noble"}); err != nil || s != (SuiteScript{}) {
		t.Errorf("mmdebstrap: %+v %v", s, err)
	}
}
