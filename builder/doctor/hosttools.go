package doctor

import (
	"net/url"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

// HostTool is a program of the build host that a build runs, or a file
// it reads, with the Debian package that installs it. HostTools is the
// one list of them: `builder doctor` checks it, and tests keep
// ci/install-deps.sh and the README's "Host requirements" table equal to
// it, so that a fresh machine set up by either has what builds run.
type HostTool struct {
	// Name is the program, looked up on PATH, or the absolute path of a
	// file. "ARCH" in it stands for the qemu name of the image's
	// architecture (see Program).
	Name string
	// Package is the Debian package that installs it.
	Package string
	// For says which recipes need it, as the README's table says it.
	For string
	// Foreign marks the tools only a foreign architecture needs: a
	// machine without them still builds for its own.
	Foreign bool
	// TestOnly marks the tools no build runs, only builder's tests (the
	// VM boot test): missing, they are a warning whatever the recipe.
	TestOnly bool
	// NoBuild marks the tools no build runs, only another command
	// (builder repro and builder diff read images, publish --sign-key
	// signs): missing, they are a warning whatever the recipe, and that
	// command says what to install.
	NoBuild bool
	needed  func(HostNeeds) bool
}

// ownTools are the host tools no bootstrap backend owns: packing,
// downloads and emulation. Backends declare theirs (bootstrap.Tool).
var ownTools = []HostTool{
	{Name: "mksquashfs", Package: "squashfs-tools", For: "a split image with a squashfs rootfs (the default)",
		needed: func(n HostNeeds) bool { return n.Squashfs }},
	// treediff reads a squashfs as a tar stream through it: no root, no
	// extraction.
	{Name: "sqfs2tar", Package: "squashfs-tools-ng", For: "builder repro and builder diff, on a split image with a squashfs rootfs", NoBuild: true,
		needed: func(HostNeeds) bool { return false }},
	// Go's TLS client and debootstrap's wget both read Debian's bundle.
	{Name: "/etc/ssl/certs/ca-certificates.crt", Package: "ca-certificates", For: "a download over https: a tarball, a keyring, a mirror or an OCI registry",
		needed: func(n HostNeeds) bool { return n.HTTPS }},
	// build --locked checks the archive has every locked version with
	// the host's apt-get, before anything is built (builder/lock).
	{Name: "apt-get", Package: "apt", For: "build --locked: the archive check before the build",
		needed: func(HostNeeds) bool { return false }},
	// A vm output's disk (builder/vmdisk): made in a plain file, without
	// loop devices or mounts.
	{Name: "sfdisk", Package: "fdisk", For: "a vm output: the disk's partition table", needed: needsVM},
	{Name: "mke2fs", Package: "e2fsprogs", For: "a vm output: the root file system", needed: needsVM},
	{Name: "debugfs", Package: "e2fsprogs", For: "a vm output: the root file system's file times", needed: needsVM},
	{Name: "mkfs.vfat", Package: "dosfstools", For: "a vm output: the EFI system partition", needed: needsVM},
	{Name: "mcopy", Package: "mtools", For: "a vm output: the boot loader's files on the EFI system partition", needed: needsVM},
	{Name: "qemu-img", Package: "qemu-utils", For: "a vm output: the qcow2 disk", needed: needsVM},
	// The boot test starts a built disk under qemu with UEFI firmware.
	{Name: "qemu-system-x86_64", Package: "qemu-system-x86", For: "the VM boot test only (make test)", TestOnly: true,
		needed: func(HostNeeds) bool { return false }},
	{Name: "/usr/share/OVMF/OVMF_CODE_4M.fd", Package: "ovmf", For: "the VM boot test only (make test): UEFI firmware, with secure boot", TestOnly: true,
		needed: func(HostNeeds) bool { return false }},
	// The oci bootstrap's tests push to and pull from a real registry
	// on loopback (internal/ocitest); builds speak to registries
	// themselves.
	{Name: "docker-registry", Package: "docker-registry", For: "the OCI registry tests only (make test)", TestOnly: true,
		needed: func(HostNeeds) bool { return false }},
	// Signing a tree (builder/sign): gpg signs, and its agent holds
	// the secret key while it does.
	{Name: "gpg", Package: "gpg", For: "publish and tree commands with --sign-key: signing a tree", NoBuild: true,
		needed: func(HostNeeds) bool { return false }},
	{Name: "gpg-agent", Package: "gpg-agent", For: "publish and tree commands with --sign-key: gpg's secret key operations", NoBuild: true,
		needed: func(HostNeeds) bool { return false }},
	{Name: "qemu-ARCH-static", Package: "qemu-user-static", For: "a foreign architecture: runs the image's programs", Foreign: true,
		needed: func(n HostNeeds) bool { return n.Foreign }},
	// builder never runs update-binfmts itself, but without the package
	// qemu's handlers are not registered, or not with the F flag that
	// lets them work in a chroot.
	{Name: "update-binfmts", Package: "binfmt-support", For: "a foreign architecture: registers qemu's binfmt_misc handlers", Foreign: true,
		needed: func(n HostNeeds) bool { return n.Foreign }},
}

func needsVM(n HostNeeds) bool { return n.VM }

// hostToolTable lists the tools in the order doctor reports them: the
// backends' own, then ownTools, then what the backends need only for a
// foreign architecture.
func hostToolTable() []HostTool {
	own := slices.Clone(ownTools)
	var native, foreign []HostTool
	for _, b := range bootstrap.Backends() {
		for _, t := range b.Tools() {
			ht := HostTool{Name: t.Name, Package: t.Package, For: t.For, Foreign: t.Foreign, needed: stepNeeds(t)}
			if i := slices.IndexFunc(own, func(o HostTool) bool { return o.Name == t.Name }); i >= 0 {
				// A tool builder's other commands run too (sqfs2tar):
				// one row, which builds need when the backend does.
				own[i].For, own[i].NoBuild, own[i].needed = ht.For+"; "+own[i].For, false, ht.needed
				continue
			}
			if slices.ContainsFunc(native, func(o HostTool) bool { return o.Name == t.Name }) {
				continue
			}
			if t.Foreign {
				foreign = append(foreign, ht)
			} else {
				native = append(native, ht)
			}
		}
	}
	return slices.Concat(native, own, foreign)
}

// stepNeeds says when a recipe needs a backend's tool: one of its steps
// names it (step.Action.Tools), and a tool only a foreign architecture
// needs is needed for one.
func stepNeeds(t bootstrap.Tool) func(HostNeeds) bool {
	return func(n HostNeeds) bool {
		return slices.Contains(n.StepTools, t.Name) && (!t.Foreign || n.Foreign)
	}
}

// HostTools lists every host tool builds use, in report order.
func HostTools() []HostTool { return hostToolTable() }

// IsFile says whether the tool is a file rather than a program on PATH.
func (t HostTool) IsFile() bool { return strings.HasPrefix(t.Name, "/") }

// PerArchitecture says whether the tool's name depends on the image's
// architecture (qemu-aarch64-static for arm64).
func (t HostTool) PerArchitecture() bool { return strings.Contains(t.Name, "ARCH") }

// Program is the tool's name for an image of architecture a, or "" when
// the tool is per architecture and no qemu emulator runs a.
func (t HostTool) Program(a image.Architecture) string {
	if !t.PerArchitecture() {
		return t.Name
	}
	h := emulation.HandlerName(a)
	if h == "" {
		return ""
	}
	return strings.ReplaceAll(t.Name, "ARCH", strings.TrimPrefix(h, "qemu-"))
}

// Needed says whether a recipe with these needs runs the tool.
func (t HostTool) Needed(n HostNeeds) bool { return t.needed(n) }

// HostNeeds is what one recipe asks of the build host.
type HostNeeds struct {
	// Backend is the enabled bootstrap block's backend.
	Backend string
	// Arch is the image's architecture; Foreign is true when this host
	// runs its programs only under emulation.
	Arch    image.Architecture
	Foreign bool
	// Squashfs is true for a split image with a squashfs rootfs.
	Squashfs bool
	// VM is true when one of the recipe's outputs is a VM disk.
	VM bool
	// HTTPS is true when the bootstrap downloads over https from the
	// build host (a tarball, a keyring, the mirror).
	HTTPS bool
	// StepTools are the host tools the enabled steps run, as their
	// actions name them (step.Action.Tools).
	StepTools []string
	// Bootstrap is the enabled bootstrap block, nil when there is none.
	Bootstrap *bootstrap.Config
	// Distribution is the image's, which picks a debootstrap script for
	// a suite that has none and the default keyring.
	Distribution string
}

// NeedsOf is what plan asks of a host whose Go architecture is
// hostGOARCH.
func NeedsOf(plan *recipe.Plan, hostGOARCH string) HostNeeds {
	n := HostNeeds{Arch: plan.Image.Architecture, Distribution: plan.Image.Distribution,
		Squashfs: plan.Output.Type == "split" && plan.Output.RootfsFormat == "squashfs"}
	if host, err := image.HostArchitecture(hostGOARCH); err != nil {
		n.Foreign = true
	} else {
		// A 32-bit relative of the host usually runs natively; where the
		// kernel refuses it, doctor's binfmt check says so.
		n.Foreign = host.Distribution != n.Arch.Distribution && !emulation.CompatibleOn(host, n.Arch)
	}
	for _, o := range plan.Outputs {
		n.VM = n.VM || o.Type == recipe.OutputVM
	}
	for _, s := range plan.EnabledSteps() {
		n.StepTools = append(n.StepTools, s.Action.Tools()...)
	}
	if b := plan.Bootstrap(); b != nil {
		n.Bootstrap = b
		n.Backend = b.Backend
		for _, u := range []string{b.Source, b.Keyring, b.Mirror} {
			if p, err := url.Parse(u); err == nil && p.Scheme == "https" {
				n.HTTPS = true
			}
		}
		// An OCI image not from a layout comes from a registry, over
		// HTTPS.
		n.HTTPS = n.HTTPS || b.Backend == "oci" && b.Layout == ""
	}
	return n
}

// Tools lists the programs and files a recipe with these needs runs, by
// their names for its architecture.
func (n HostNeeds) Tools() []string {
	var names []string
	for _, t := range hostToolTable() {
		if t.Needed(n) {
			if p := t.Program(n.Arch); p != "" {
				names = append(names, p)
			}
		}
	}
	return names
}
