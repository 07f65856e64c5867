package confined

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

func own(mode uint32, owner, group string) Ownership {
	return Ownership{Mode: mode, Owner: owner, Group: group}
}

func TestWriteFile(t *testing.T) {
	testenv.Root(t)
	src := filepath.Join(t.TempDir(), "motd")
	if err := os.WriteFile(src, []byte("from the host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup []string
		file  File
		want  meta // Type, Perm, UID, GID and Content are compared
	}{
		{name: "content with missing parents",
			file: File{Path: "/srv/app/conf.d/a.conf", Content: "x=1\n", Ownership: own(0o644, "root", "root")},
			want: meta{Type: unix.S_IFREG, Perm: 0o644, Content: "x=1\n"}},
		{name: "host source",
			file: File{Path: "/etc/motd", Source: src, Ownership: own(0o644, "root", "root")},
			want: meta{Type: unix.S_IFREG, Perm: 0o644, Content: "from the host\n"}},
		{name: "setuid mode",
			file: File{Path: "/usr/bin/tool", Content: "#!/bin/sh\n", Ownership: own(0o4755, "root", "root")},
			want: meta{Type: unix.S_IFREG, Perm: 0o4755, Content: "#!/bin/sh\n"}},
		{name: "names from the image",
			file: File{Path: "/srv/app/secret", Content: "s", Ownership: own(0o640, "app", "staff")},
			want: meta{Type: unix.S_IFREG, Perm: 0o640, UID: 1234, GID: 50, Content: "s"}},
		{name: "numeric owner",
			file: File{Path: "/home/u/.profile", Content: "p", Ownership: own(0o600, "1000", "1000")},
			want: meta{Type: unix.S_IFREG, Perm: 0o600, UID: 1000, GID: 1000, Content: "p"}},
		{name: "replaces a file",
			setup: []string{"etc/hostname=old\n"},
			file:  File{Path: "/etc/hostname", Content: "new\n", Ownership: own(0o644, "root", "root")},
			want:  meta{Type: unix.S_IFREG, Perm: 0o644, Content: "new\n"}},
		{name: "replaces an in-image symlink",
			setup: []string{"run/stub=stub", "etc/resolv.conf->../run/stub"},
			file:  File{Path: "/etc/resolv.conf", Content: "nameserver 10.0.0.1\n", Ownership: own(0o644, "root", "root")},
			want:  meta{Type: unix.S_IFREG, Perm: 0o644, Content: "nameserver 10.0.0.1\n"}},
		{name: "through an in-image directory symlink",
			setup: []string{"usr/lib/", "lib->usr/lib"},
			file:  File{Path: "/lib/x.conf", Content: "c", Ownership: own(0o644, "root", "root")},
			want:  meta{Type: unix.S_IFREG, Perm: 0o644, Content: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			layout(t, root, append([]string{"etc/passwd=" + fakePasswd, "etc/group=" + fakeGroup}, tt.setup...)...)
			if err := WriteFile(root, tt.file); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, tt.file.Path)
			if tt.name == "through an in-image directory symlink" {
				p = filepath.Join(root, "usr/lib/x.conf")
			}
			got := describe(t, p)
			got.Mtime, got.Xattrs = 0, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			// Parents the step created are root:root 0755.
			for d := filepath.Dir(p); d != root; d = filepath.Dir(d) {
				if m := describe(t, d); m.Perm != 0o755 || m.UID != 0 || m.GID != 0 {
					t.Errorf("parent %s: %+v", d, m)
				}
			}
		})
	}
	if b, err := os.ReadFile(src); err != nil || string(b) != "from the host\n" {
		t.Errorf("source changed: %q, %v", b, err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	root := t.TempDir()
	layout(t, root, "etc/passwd="+fakePasswd, "etc/group="+fakeGroup, "etc/dir/")
	tests := []struct {
		file File
		want []string
	}{
		{File{Path: "/etc/x", Ownership: own(0o644, "ghost", "root")}, []string{"writing /etc/x", `user "ghost"`, "/etc/passwd"}},
		{File{Path: "/etc/x", Ownership: own(0o644, "root", "ghosts")}, []string{"writing /etc/x", `group "ghosts"`, "/etc/group"}},
		{File{Path: "etc/x", Ownership: own(0o644, "root", "root")}, []string{"writing etc/x", "not an absolute path"}},
		{File{Path: "/", Ownership: own(0o644, "root", "root")}, []string{"writing /", "image root"}},
		{File{Path: "/etc/x", Source: "/nonexistent/source", Ownership: own(0o644, "root", "root")}, []string{"writing /etc/x", "/nonexistent/source"}},
		{File{Path: "/etc/dir", Ownership: own(0o644, "root", "root")}, []string{"writing /etc/dir"}},
	}
	for _, tt := range tests {
		err := WriteFile(root, tt.file)
		if err == nil {
			t.Errorf("WriteFile(%+v) succeeded", tt.file)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("WriteFile(%s) error %q does not mention %q", tt.file.Path, err, want)
			}
		}
	}
}

// TestFileStepsStayInRoot runs the three file steps against images whose
// symlinks, or the step's own path, aim at a sentinel outside the root.
// Each case either fails naming the path or succeeds inside the image;
// the host is unchanged either way.
func TestFileStepsStayInRoot(t *testing.T) {
	testenv.Root(t)
	hostFile := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(hostFile, []byte("pwned\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostTree := t.TempDir()
	layout(t, hostTree, "conf/sentinel=pwned\n")
	write := func(p string) func(string) error {
		return func(root string) error {
			return WriteFile(root, File{Path: p, Content: "pwned\n", Ownership: own(0o644, "root", "root")})
		}
	}
	copyIn := func(p, src string) func(string) error {
		return func(root string) error { return CopyIn(root, Copy{Path: p, Source: src}) }
	}
	remove := func(p string, missingOK bool) func(string) error {
		return func(root string) error { return Remove(root, p, missingOK) }
	}
	tests := []struct {
		name  string
		setup func(f *escapeFixture) []string
		step  func(root string) error
		// wantErr is a substring of the error; "" means the step
		// succeeds (inside the image).
		wantErr string
		// check runs after a successful step.
		check func(t *testing.T, f *escapeFixture)
	}{
		{name: "write through /etc -> absolute host dir",
			setup:   func(f *escapeFixture) []string { return []string{"etc->" + f.out} },
			step:    write("/etc/sentinel"),
			wantErr: "writing /etc/sentinel"},
		{name: "write through /etc -> ../../../host dir",
			setup:   func(f *escapeFixture) []string { return []string{"etc->" + f.climb()} },
			step:    write("/etc/sentinel"),
			wantErr: "writing /etc/sentinel"},
		{name: "write through a symlink loop",
			setup:   func(f *escapeFixture) []string { return []string{"etc->../../../../etc"} },
			step:    write("/etc/passwd"),
			wantErr: "writing /etc/passwd"},
		{name: "write with .. in the path",
			step:    write("/../outside/sentinel"),
			wantErr: `writing /../outside/sentinel: "/../outside/sentinel" has a ".." component`},
		{name: "write over a final symlink to the host replaces the link",
			setup: func(f *escapeFixture) []string { return []string{"etc/sentinel->" + filepath.Join(f.out, "sentinel")} },
			step:  write("/etc/sentinel"),
			check: func(t *testing.T, f *escapeFixture) {
				if m := describe(t, filepath.Join(f.root, "etc/sentinel")); m.Type != unix.S_IFREG || m.Content != "pwned\n" {
					t.Errorf("etc/sentinel: %+v", m)
				}
			}},
		{name: "write through an absolute symlink lands inside the image",
			setup: func(f *escapeFixture) []string {
				return []string{strings.TrimPrefix(f.out, "/") + "/", "etc->" + f.out}
			},
			step: write("/etc/sentinel"),
			check: func(t *testing.T, f *escapeFixture) {
				if b, err := os.ReadFile(filepath.Join(f.root, f.out, "sentinel")); err != nil || string(b) != "pwned\n" {
					t.Errorf("file inside the image: %q, %v", b, err)
				}
			}},
		{name: "copy a file through /etc -> host dir",
			setup:   func(f *escapeFixture) []string { return []string{"etc->" + f.out} },
			step:    copyIn("/etc/sentinel", hostFile),
			wantErr: "to /etc/sentinel"},
		{name: "copy a tree onto an image symlink to the host",
			setup:   func(f *escapeFixture) []string { return []string{"srv/conf->" + f.climb()} },
			step:    copyIn("/srv", hostTree),
			wantErr: "/srv/conf"},
		{name: "copy with .. in the path",
			step:    copyIn("/../outside/sentinel", hostFile),
			wantErr: `"/../outside/sentinel" has a ".." component`},
		{name: "remove through /etc -> host dir",
			setup:   func(f *escapeFixture) []string { return []string{"etc->" + f.out} },
			step:    remove("/etc/sentinel", false),
			wantErr: "removing /etc/sentinel"},
		{name: "remove through /etc -> host dir, missing ok",
			setup: func(f *escapeFixture) []string { return []string{"etc->" + f.out} },
			step:  remove("/etc/sentinel", true)},
		{name: "remove with .. in the path",
			step:    remove("/../outside", false),
			wantErr: `removing /../outside: "/../outside" has a ".." component`},
		{name: "remove a symlink to the host removes the link",
			setup: func(f *escapeFixture) []string { return []string{"etc->" + f.out} },
			step:  remove("/etc", false),
			check: func(t *testing.T, f *escapeFixture) {
				if _, err := os.Lstat(filepath.Join(f.root, "etc")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("link still there: %v", err)
				}
			}},
		{name: "remove a tree holding links to the host",
			setup: func(f *escapeFixture) []string {
				return []string{"var/a->" + f.out, "var/b->" + f.climb(), "var/c/sentinel->" + f.out + "/sentinel"}
			},
			step: remove("/var", false),
			check: func(t *testing.T, f *escapeFixture) {
				if _, err := os.Lstat(filepath.Join(f.root, "var")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("var still there: %v", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEscapeFixture(t)
			if tt.setup != nil {
				layout(t, f.root, tt.setup(f)...)
			}
			err := tt.step(f.root)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("step failed: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("step succeeded, want an error mentioning %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			case tt.check != nil:
				tt.check(t, f)
			}
			f.assertUntouched(t)
		})
	}
}

func TestCopyIn(t *testing.T) {
	testenv.Root(t)
	src := t.TempDir()
	layout(t, src, "bin/run=#!/bin/sh\n", "etc/app.conf=a=1\n", "etc/secret/key=k", "etc/current->app.conf", "etc/abs->/usr/share/app")
	for p, mode := range map[string]os.FileMode{"bin/run": 0o755, "etc/secret/key": 0o600, "etc/secret": 0o700, "etc/app.conf": 0o644} {
		if err := os.Chmod(filepath.Join(src, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(src, "bin/run"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	srcLink := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(src, srcLink); err != nil {
		t.Fatal(err)
	}
	fileLink := filepath.Join(t.TempDir(), "run.link")
	if err := os.Symlink(filepath.Join(src, "bin/run"), fileLink); err != nil {
		t.Fatal(err)
	}
	type want struct {
		typ, perm, uid, gid uint32
		target              string
	}
	tests := []struct {
		name  string
		setup []string
		copy  Copy
		// want maps image paths to what must be there.
		want map[string]want
	}{
		{name: "single file keeps its mode, owned by root",
			copy: Copy{Path: "/usr/local/bin/run", Source: filepath.Join(src, "bin/run")},
			want: map[string]want{"/usr/local/bin/run": {unix.S_IFREG, 0o755, 0, 0, ""}, "/usr/local/bin": {unix.S_IFDIR, 0o755, 0, 0, ""}}},
		{name: "single file with ownership",
			copy: Copy{Path: "/srv/run", Source: filepath.Join(src, "bin/run"), Ownership: &Ownership{Mode: 0o750, Owner: "app", Group: "app"}},
			want: map[string]want{"/srv/run": {unix.S_IFREG, 0o750, 1234, 2345, ""}}},
		{name: "tree keeps modes and symlinks",
			copy: Copy{Path: "/opt/app", Source: src},
			want: map[string]want{
				"/opt/app":                {unix.S_IFDIR, 0o755, 0, 0, ""},
				"/opt/app/bin/run":        {unix.S_IFREG, 0o755, 0, 0, ""},
				"/opt/app/etc/secret":     {unix.S_IFDIR, 0o700, 0, 0, ""},
				"/opt/app/etc/secret/key": {unix.S_IFREG, 0o600, 0, 0, ""},
				"/opt/app/etc/current":    {unix.S_IFLNK, 0o777, 0, 0, "app.conf"},
				"/opt/app/etc/abs":        {unix.S_IFLNK, 0o777, 0, 0, "/usr/share/app"},
			}},
		{name: "source given as a symlink to a directory",
			copy: Copy{Path: "/opt/app", Source: srcLink},
			want: map[string]want{
				"/opt/app":            {unix.S_IFDIR, 0o755, 0, 0, ""},
				"/opt/app/bin/run":    {unix.S_IFREG, 0o755, 0, 0, ""},
				"/opt/app/etc/secret": {unix.S_IFDIR, 0o700, 0, 0, ""},
			}},
		{name: "source given as a symlink to a file",
			copy: Copy{Path: "/usr/local/bin/run", Source: fileLink},
			want: map[string]want{"/usr/local/bin/run": {unix.S_IFREG, 0o755, 0, 0, ""}}},
		{name: "tree with ownership: files get the mode, directories add x where r",
			copy: Copy{Path: "/opt/app", Source: src, Ownership: &Ownership{Mode: 0o640, Owner: "app", Group: "staff"}},
			want: map[string]want{
				"/opt/app":                {unix.S_IFDIR, 0o750, 1234, 50, ""},
				"/opt/app/bin/run":        {unix.S_IFREG, 0o640, 1234, 50, ""},
				"/opt/app/etc/secret":     {unix.S_IFDIR, 0o750, 1234, 50, ""},
				"/opt/app/etc/secret/key": {unix.S_IFREG, 0o640, 1234, 50, ""},
				"/opt/app/etc/current":    {unix.S_IFLNK, 0o777, 1234, 50, "app.conf"},
			}},
		{name: "tree merged into an existing directory, which keeps its mode",
			setup: []string{"srv/keep=k", "srv/etc/old=o"},
			copy:  Copy{Path: "/srv", Source: src, Ownership: &Ownership{Mode: 0o600, Owner: "app", Group: "app"}},
			want: map[string]want{
				"/srv":              {unix.S_IFDIR, 0o711, 0, 0, ""}, // set below
				"/srv/keep":         {unix.S_IFREG, 0o644, 0, 0, ""},
				"/srv/etc":          {unix.S_IFDIR, 0o755, 0, 0, ""},
				"/srv/etc/old":      {unix.S_IFREG, 0o644, 0, 0, ""},
				"/srv/bin":          {unix.S_IFDIR, 0o700, 1234, 2345, ""},
				"/srv/bin/run":      {unix.S_IFREG, 0o600, 1234, 2345, ""},
				"/srv/etc/abs":      {unix.S_IFLNK, 0o777, 1234, 2345, "/usr/share/app"},
				"/srv/etc/app.conf": {unix.S_IFREG, 0o600, 1234, 2345, ""},
			}},
		{name: "an image symlink to a directory is followed inside the image",
			setup: []string{"usr/etc/", "opt/app/etc->../../usr/etc"},
			copy:  Copy{Path: "/opt/app", Source: src},
			want: map[string]want{
				"/opt/app/etc":        {unix.S_IFLNK, 0o777, uint32(os.Geteuid()), uint32(os.Getegid()), "../../usr/etc"},
				"/usr/etc/app.conf":   {unix.S_IFREG, 0o644, 0, 0, ""},
				"/usr/etc/secret/key": {unix.S_IFREG, 0o600, 0, 0, ""},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			layout(t, root, append([]string{"etc/passwd=" + fakePasswd, "etc/group=" + fakeGroup}, tt.setup...)...)
			if err := os.Chmod(filepath.Join(root, "srv"), 0o711); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			if err := CopyIn(root, tt.copy); err != nil {
				t.Fatal(err)
			}
			for p, w := range tt.want {
				m := describe(t, filepath.Join(root, p))
				if got := (want{m.Type, m.Perm, m.UID, m.GID, m.Target}); got != w {
					t.Errorf("%s: got %+v, want %+v", p, got, w)
				}
			}
		})
	}
}

func TestCopyInErrors(t *testing.T) {
	testenv.Root(t) // copies are owned by root
	root := t.TempDir()
	layout(t, root, "etc/passwd="+fakePasswd, "etc/group="+fakeGroup, "srv/file=x")
	src := t.TempDir()
	layout(t, src, "sub/")
	if err := unix.Mkfifo(filepath.Join(src, "sub/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		copy Copy
		want []string
	}{
		{Copy{Path: "/opt", Source: src}, []string{"/opt/sub/pipe", "named pipe"}},
		{Copy{Path: "/srv/file", Source: src}, []string{"to /srv/file", "not a directory"}},
		{Copy{Path: "/opt", Source: src, Ownership: &Ownership{Mode: 0o644, Owner: "ghost", Group: "root"}}, []string{`user "ghost"`}},
		{Copy{Path: "/opt", Source: "/nonexistent"}, []string{"copying /nonexistent to /opt"}},
		{Copy{Path: "/opt", Source: filepath.Dir(root)}, []string{"contains the image root"}},
	}
	for _, tt := range tests {
		err := CopyIn(root, tt.copy)
		if err == nil {
			t.Errorf("CopyIn(%+v) succeeded", tt.copy)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("CopyIn(%s) error %q does not mention %q", tt.copy.Path, err, want)
			}
		}
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		missingOK bool
		gone      []string
		kept      []string
		wantErr   string
	}{
		{name: "file", path: "/etc/motd", gone: []string{"etc/motd"}, kept: []string{"etc/hostname"}},
		{name: "tree", path: "/var/cache", gone: []string{"var/cache"}, kept: []string{"var/lib/x"}},
		{name: "symlink to a directory", path: "/lib", gone: []string{"lib"}, kept: []string{"usr/lib/libc.so"}},
		{name: "through a directory symlink", path: "/lib/libc.so", gone: []string{"usr/lib/libc.so"}, kept: []string{"lib"}},
		{name: "missing", path: "/etc/nothing", wantErr: "removing /etc/nothing"},
		{name: "missing parent", path: "/nothing/at/all", wantErr: "removing /nothing/at/all"},
		{name: "missing ok", path: "/nothing/at/all", missingOK: true},
		{name: "root", path: "/", wantErr: "image root", kept: []string{"etc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			layout(t, root, "etc/motd=m", "etc/hostname=h", "var/cache/apt/a/b=1", "var/cache/c->/etc", "var/lib/x=x",
				"usr/lib/libc.so=elf", "lib->usr/lib")
			err := Remove(root, tt.path, tt.missingOK)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Remove = %v, want an error mentioning %q", err, tt.wantErr)
			}
			for _, p := range tt.gone {
				if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s still there: %v", p, err)
				}
			}
			for _, p := range tt.kept {
				if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
					t.Errorf("%s removed: %v", p, err)
				}
			}
		})
	}
}
