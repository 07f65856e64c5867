package rootfs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/internal/testenv"
)

func TestBackendsMatchTheRecipeLanguage(t *testing.T) {
	if got, want := strings.Join(BackendNames(), ","), strings.Join(recipe.BootstrapBackends(), ","); got != want {
		t.Errorf("rootfs backends %s, recipe backends %s", got, want)
	}
	if got, want := strings.Join(PackageManagerNames(), ","), strings.Join(recipe.PackageManagers(), ","); got != want {
		t.Errorf("rootfs package managers %s, recipe package managers %s", got, want)
	}
}

func TestDebootstrapArgv(t *testing.T) {
	arm64, _ := image.LookupArchitecture("arm64")
	full := &recipe.Bootstrap{
		Suite: "bookworm", Variant: "minbase", Mirror: "http://mirror.example/debian",
		Keyring: "/k.gpg", Components: []string{"main", "contrib"}, Include: []string{"a", "b"},
		Exclude: []string{"c"}, ExtraArgs: []string{"--no-merged-usr"},
	}
	tests := []struct {
		tool string
		b    *recipe.Bootstrap
		want string
		err  string
	}{
		{"debootstrap", full, "debootstrap --arch=arm64 --foreign --variant=minbase --components=main,contrib --include=a,b --exclude=c --keyring=/k.gpg --no-merged-usr bookworm /r http://mirror.example/debian", ""},
		{"debootstrap", &recipe.Bootstrap{Suite: "bookworm"}, "debootstrap --arch=arm64 --foreign bookworm /r", ""},
		{"debootstrap", &recipe.Bootstrap{Suite: "bookworm", ExtraArgs: []string{"--foreign"}}, "debootstrap --arch=arm64 --foreign bookworm /r", ""},
		{"mmdebstrap", &recipe.Bootstrap{Suite: "bookworm", Variant: "apt", Include: []string{"a"}}, "mmdebstrap --arch=arm64 --mode=root --skip=check/empty --skip=chroot/mount --dpkgopt=force-unsafe-io --variant=apt --include=a bookworm /r", ""},
		{"mmdebstrap", full, "", "mmdebstrap cannot exclude packages"},
	}
	for _, tt := range tests {
		argv, err := debootstrapBackend{tool: tt.tool}.argv(arm64, tt.b, tt.b.Keyring, SuiteScript{}, "/r")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.tool, err, tt.err)
			}
			continue
		}
		if got := strings.Join(argv, " "); err != nil || got != tt.want {
			t.Errorf("%s argv:\n got %s (%v)\nwant %s", tt.tool, got, err, tt.want)
		}
	}
}

func TestBusyboxBootstrap(t *testing.T) {
	binary := "/bin/busybox"
	testenv.File(t, binary, "busybox-static")
	dir := t.TempDir()
	amd64, _ := image.LookupArchitecture("amd64")
	arm64, _ := image.LookupArchitecture("arm64")
	err := busyboxBackend{}.Bootstrap(context.Background(), BootstrapEnv{Arch: amd64}, &recipe.Bootstrap{Binary: binary}, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"bin/sh", "sbin/init", "bin/ls"} {
		target, err := os.Readlink(filepath.Join(dir, applet))
		if err != nil || target != "/bin/busybox" {
			t.Errorf("/%s -> %q (%v), want a link to /bin/busybox", applet, target, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "tmp")); err != nil || st.Mode().Perm() != 0o777 || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("/tmp mode: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); !strings.HasPrefix(string(b), "root:x:0:0:") {
		t.Errorf("/etc/passwd = %q", b)
	}

	// A binary of another architecture would not run in the image.
	err = busyboxBackend{}.Bootstrap(context.Background(), BootstrapEnv{Arch: arm64}, &recipe.Bootstrap{Binary: binary}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "built for EM_X86_64, but the image is arm64") {
		t.Errorf("foreign binary: %v", err)
	}
	// A dynamically linked binary would not run in the image.
	err = busyboxBackend{}.Bootstrap(context.Background(), BootstrapEnv{Arch: amd64}, &recipe.Bootstrap{Binary: "/bin/ls"}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("dynamic binary: %v", err)
	}
}

func TestSourcesFile(t *testing.T) {
	got := sourcesFile(&recipe.Repository{
		Name: "extra", Types: []string{"deb", "deb-src"}, URL: "https://apt.example.org/debian",
		Suites: []string{"bookworm", "bookworm-updates"}, Components: []string{"main"}, Architectures: []string{"amd64"},
	}, "/etc/apt/keyrings/extra.asc")
	want := `# Written by builder from the recipe's repository "extra".
Types: deb deb-src
URIs: https://apt.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Architectures: amd64
Signed-By: /etc/apt/keyrings/extra.asc
`
	if got != want {
		t.Errorf("sources file:\n%s\nwant:\n%s", got, want)
	}
}

// recordingManager records the operations applyPackages asks for.
type recordingManager struct{ ops []string }

func (r *recordingManager) Update(context.Context) error { r.ops = append(r.ops, "update"); return nil }
func (r *recordingManager) Upgrade(context.Context) error {
	r.ops = append(r.ops, "upgrade")
	return nil
}
func (r *recordingManager) Cleanup(context.Context) error {
	r.ops = append(r.ops, "cleanup")
	return nil
}
func (r *recordingManager) Install(_ context.Context, p []string) error {
	r.ops = append(r.ops, "install "+strings.Join(p, " "))
	return nil
}
func (r *recordingManager) Remove(_ context.Context, p []string) error {
	r.ops = append(r.ops, "remove "+strings.Join(p, " "))
	return nil
}

func TestApplyPackagesOrder(t *testing.T) {
	m := &recordingManager{}
	p := &recipe.Packages{Update: true, Upgrade: true, Install: []string{"a", "b"}, Remove: []string{"c"}, Cleanup: true}
	if err := applyPackages(context.Background(), m, p); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.ops, ", "); got != "update, upgrade, install a b, remove c, cleanup" {
		t.Errorf("operations: %s", got)
	}
	m = &recordingManager{}
	_ = applyPackages(context.Background(), m, &recipe.Packages{Install: []string{"x"}})
	if got := strings.Join(m.ops, ", "); got != "install x" {
		t.Errorf("only install asked: %s", got)
	}
}

func TestAptCommands(t *testing.T) {
	var calls []string
	a := apt{run: func(_ context.Context, argv ...string) error {
		calls = append(calls, strings.Join(argv, " "))
		return nil
	}}
	ctx := context.Background()
	_ = a.Install(ctx, []string{"curl"})
	_ = a.Cleanup(ctx)
	for i, want := range []string{"apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o APT::Install-Recommends=false -o Dpkg::Options::=--force-unsafe-io install curl", "autoremove --purge", "clean"} {
		if i >= len(calls) || !strings.HasSuffix(calls[i], want) {
			t.Errorf("call %d = %q, want it to end with %q", i, calls, want)
		}
	}
}
