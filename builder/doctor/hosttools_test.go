package doctor

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/recipe"
)

// testOnlyPackages are what ci/install-deps.sh installs beyond the host
// tools: for building builder and running its tests and benchmarks.
var testOnlyPackages = map[string]string{
	"make":         "make build, make test",
	"git":          "the repository itself",
	"lxd":          "the import and end-to-end tests' daemon",
	"incus-base":   "the import and test suites' second daemon (from bookworm-backports)",
	"incus-client": "the incus command the Incus tests drive it with (from bookworm-backports)",
	"dnsmasq-base": "LXD's bridge for the end-to-end test (ci/start-lxd.sh)",
	"iptables":     "LXD's bridge for the end-to-end test (ci/start-lxd.sh)",
	"bzip2":        "bzip2 tarballs in the extraction tests",
	"xz-utils":     "xz tarballs made by hand in tests and benchmarks",
	"zstd":         "zstd tarballs made by hand in tests and benchmarks",
	"pigz":         "the by-hand pipeline the cache benchmark compares with",
	"bubblewrap":   "the sandbox benchmark's comparison",
	"time":         "the sandbox benchmark's peak memory",
	"gdisk":        "the VM disk tests' second opinion on the partition table (sgdisk --verify)",
	"rsync":        "the VM disk benchmark's comparison (distrobuilder's method: rsync -aHAX into a loop mount)",
	"gpgv":         "the signing tests' second opinion on a signed tree's signatures",
}

// installDepsPackages reads the package lists of ci/install-deps.sh:
// bookworm's (packages="…") and those it takes from bookworm-backports
// (backports="…").
func installDepsPackages(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../ci/install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, list := range []string{"packages", "backports"} {
		m := regexp.MustCompile(`(?s)\n` + list + `="([^"]*)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf(`ci/install-deps.sh has no %s="…" list`, list)
		}
		out = append(out, strings.Fields(string(m[1]))...)
	}
	return out
}

// TestInstallDepsNoIncusMetapackage: the "incus" metapackage pulls
// backports' qemu 10, which the VM tests are not verified with; only the
// daemon and its client may come from backports.
func TestInstallDepsNoIncusMetapackage(t *testing.T) {
	if slices.Contains(installDepsPackages(t), "incus") {
		t.Error(`ci/install-deps.sh installs the "incus" metapackage; install incus-base and incus-client instead`)
	}
}

// TestHostToolsMatchInstallDeps keeps ci/install-deps.sh installing
// every package of HostTools, and nothing but those and the tests' own:
// a fresh machine set up by it runs every build.
func TestHostToolsMatchInstallDeps(t *testing.T) {
	installed := installDepsPackages(t)
	for _, tool := range HostTools() {
		if !slices.Contains(installed, tool.Package) {
			t.Errorf("ci/install-deps.sh does not install %s, which provides %s (needed for %s)", tool.Package, tool.Name, tool.For)
		}
		if _, ok := testOnlyPackages[tool.Package]; ok {
			t.Errorf("%s is both a host tool's package and a test-only one", tool.Package)
		}
	}
	for _, p := range installed {
		_, testOnly := testOnlyPackages[p]
		if !testOnly && !slices.ContainsFunc(HostTools(), func(h HostTool) bool { return h.Package == p }) {
			t.Errorf("ci/install-deps.sh installs %s, which is neither a host tool's package (HostTools) nor listed as test-only here", p)
		}
	}
	for p := range testOnlyPackages {
		if !slices.Contains(installed, p) {
			t.Errorf("%s is listed as test-only, but ci/install-deps.sh does not install it", p)
		}
	}
}

// TestHostToolsMatchREADME keeps the README's "Host requirements" table
// equal to HostTools, row for row.
func TestHostToolsMatchREADME(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]+)` \\| (.+) \\|$")
	var got []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Host requirements":
			in = true
		case in && strings.HasPrefix(line, "## "):
			in = false
		case in:
			if m := row.FindStringSubmatch(line); m != nil {
				got = append(got, m[1]+" | "+m[2]+" | "+m[3])
			}
		}
	}
	var want []string
	for _, tool := range HostTools() {
		want = append(want, tool.Name+" | "+tool.Package+" | "+tool.For)
	}
	if !slices.Equal(got, want) {
		t.Errorf("README's Host requirements rows:\n%s\nwant (from doctor.HostTools):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRecipeTools(t *testing.T) {
	for _, tt := range []struct {
		path string
		vars []string
		host string
		want string
	}{
		// recipes/debian.hcl and ubuntu.hcl have a container and a vm output.
		{"../../recipes/debian.hcl", nil, "amd64", "debootstrap mksquashfs sfdisk mke2fs debugfs mkfs.vfat mcopy qemu-img"},
		// What a fresh machine lacked: mmdebstrap refuses a foreign
		// architecture without arch-test.
		{"../../cmd/builder/testdata/rootfs/arm64-essential.hcl", nil, "amd64", "mmdebstrap qemu-aarch64-static update-binfmts arch-test"},
		{"../../cmd/builder/testdata/rootfs/arm64-essential.hcl", nil, "arm64", "mmdebstrap"},
		{"../../recipes/debian.hcl", []string{"architecture=arm64"}, "amd64", "debootstrap mksquashfs sfdisk mke2fs debugfs mkfs.vfat mcopy qemu-img qemu-aarch64-static update-binfmts"},
		{"../../recipes/busybox.hcl", nil, "amd64", "/bin/busybox"},
		{"../../recipes/ubuntu.hcl", []string{"keyring=https://archive.example/k.gpg"}, "amd64", "debootstrap mksquashfs /etc/ssl/certs/ca-certificates.crt sfdisk mke2fs debugfs mkfs.vfat mcopy qemu-img"},
		// A vm output brings the disk tools, and the tools of the boot
		// test are no recipe's.
		{vmRecipe(t), nil, "amd64", "/bin/busybox sfdisk mke2fs debugfs mkfs.vfat mcopy qemu-img"},
	} {
		plan, diags := recipe.NewLoader().Load(tt.path, recipe.Options{HostArch: tt.host, Vars: tt.vars})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tt.path, diags)
		}
		if got := strings.Join(NeedsOf(plan, tt.host).Tools(), " "); got != tt.want {
			t.Errorf("%s %v on %s: tools %q, want %q", tt.path, tt.vars, tt.host, got, tt.want)
		}
	}
}

// vmRecipe is a busybox recipe with a container and a vm output.
func vmRecipe(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "busybox-vm.hcl")
	src := `image {
  name         = "busybox-vm"
  distribution = "busybox"
  release      = "static"
}

bootstrap "busybox" {}

output "container" {
  type = "unified"
}

output "disk" {
  type = "vm"
}
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
