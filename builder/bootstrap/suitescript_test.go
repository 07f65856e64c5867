package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
