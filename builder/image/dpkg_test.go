package image_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// samplePackages are the installed packages of testdata/dpkg/status.
var samplePackages = []image.Package{
	{Name: "ca-certificates", Version: "20230311", Architecture: "all"},
	{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "amd64", Source: "glibc"},
	{Name: "libc6", Version: "2.36-9+deb12u7", Architecture: "i386", Source: "glibc"},
	{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3", Architecture: "amd64", Source: "openssh"},
	{Name: "vim-tiny", Version: "2:9.0.1378-2", Architecture: "amd64"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Architecture: "amd64", Source: "zlib"},
}

// rootWithStatus makes an image root whose dpkg status is content.
func rootWithStatus(t *testing.T, content string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReadDpkgStatus parses a status file with installed, held,
// deinstalled, purged, half-installed and unpacked packages, multi-line
// fields (Description, Conffiles, tab continuations) and one package in
// two architectures, in no particular order.
func TestReadDpkgStatus(t *testing.T) {
	sample, err := os.ReadFile("testdata/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	got, err := image.ReadDpkgStatus(rootWithStatus(t, string(sample)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, samplePackages) {
		t.Errorf("got\n%+v\nwant\n%+v", got, samplePackages)
	}
}

func TestReadDpkgStatusMalformed(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"no Package", "Status: install ok installed\nVersion: 1\n", "line 1: no Package field"},
		{"short Status", "Package: a\nStatus: installed\n", `Status "installed"`},
		{"installed without Version", "Package: a\nStatus: install ok installed\nArchitecture: all\n", "no Version"},
		{"not a field", "Package: a\nthis is not a field\n", "line 2"},
		{"bad Source", "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nSource: b (1\n", `Source "b (1"`},
		{"continuation first", " continued\n", "line 1: a continuation line"},
		{"second paragraph", "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n\nPackage: b\n", "paragraph at line 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := image.ReadDpkgStatus(rootWithStatus(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

// TestReadDpkgStatusFile: what the status file may be, and what happens
// when it is something else.
func TestReadDpkgStatusFile(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "status")
	if err := os.WriteFile(secret, []byte("Package: host\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := func(root string) string {
		d := filepath.Join(root, "var/lib/dpkg")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name  string
		setup func(root string)
		want  string // "": no error and no packages
		pkgs  int
	}{
		{"no dpkg at all (busybox)", func(string) {}, "", 0},
		{"no status file", func(root string) { dpkg(root) }, "", 0},
		{"empty status file", func(root string) { write(t, filepath.Join(dpkg(root), "status"), "") }, "", 0},
		{"absolute symlink out of the root", func(root string) {
			symlink(t, secret, filepath.Join(dpkg(root), "status"))
		}, "escapes", 0},
		{"relative symlink out of the root", func(root string) {
			rel, _ := filepath.Rel(dpkg(root), secret)
			symlink(t, rel, filepath.Join(dpkg(root), "status"))
		}, "escapes", 0},
		{"directory symlink out of the root", func(root string) {
			if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
				t.Fatal(err)
			}
			// The host's …/dpkg/status exists: only the root stops it.
			if err := os.MkdirAll(filepath.Join(outside, "dpkg"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(outside, "dpkg/status"), "Package: host\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n")
			symlink(t, outside, filepath.Join(root, "var/lib"))
		}, "escapes", 0},
		{"symlink inside the root", func(root string) {
			write(t, filepath.Join(root, "status.real"), "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n")
			symlink(t, "../../../status.real", filepath.Join(dpkg(root), "status"))
		}, "", 1},
		{"directory", func(root string) {
			if err := os.MkdirAll(filepath.Join(dpkg(root), "status"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file", 0},
		{"fifo does not hang", func(root string) {
			if err := syscall.Mkfifo(filepath.Join(dpkg(root), "status"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(root)
			pkgs, err := image.ReadDpkgStatus(root)
			if tt.want == "" {
				if err != nil || len(pkgs) != tt.pkgs {
					t.Fatalf("got %v, %v; want %d packages", pkgs, err, tt.pkgs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want an error mentioning %q", pkgs, err, tt.want)
			}
		})
	}
	if _, err := image.ReadDpkgStatus(filepath.Join(outside, "missing")); err == nil {
		t.Error("a missing root is not an image without packages")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestReadDpkgStatusSource records the source package only where it
// differs from the binary: by name, by version (a binNMU), or both.
func TestReadDpkgStatusSource(t *testing.T) {
	status := `Package: same
Status: install ok installed
Architecture: all
Version: 1.0

Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo
Version: 2.0-1

Package: foo-bin
Status: install ok installed
Architecture: amd64
Source: foo (2.0-1)
Version: 2.0-1+b1

Package: foo
Status: install ok installed
Architecture: amd64
Source: foo (2.0-1)
Version: 2.0-1+b2
`
	got, err := image.ReadDpkgStatus(rootWithStatus(t, status))
	if err != nil {
		t.Fatal(err)
	}
	want := []image.Package{
		{Name: "foo", Version: "2.0-1+b2", Architecture: "amd64", SourceVersion: "2.0-1"},
		{Name: "foo-bin", Version: "2.0-1+b1", Architecture: "amd64", Source: "foo", SourceVersion: "2.0-1"},
		{Name: "libfoo1", Version: "2.0-1", Architecture: "amd64", Source: "foo"},
		{Name: "same", Version: "1.0", Architecture: "all"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	for _, p := range got {
		if p.SourceName() != "foo" && p.Name != "same" || p.SourceVer() == "" {
			t.Errorf("%s: source %s %s", p.Name, p.SourceName(), p.SourceVer())
		}
	}
}
