// Package bootstrap holds the bootstrap backends: each creates an
// image's first root filesystem in an empty directory, from a Debian
// mirror (debootstrap.go runs debootstrap and mmdebstrap, mmdebstrap.go
// says where mmdebstrap differs, suitescript.go and keyring.go hold
// debootstrap's suite scripts and keyrings), an archive (tarball.go), a
// host directory (directory.go) or one static busybox binary
// (busybox.go). Each declares, next to its code, the attributes and
// variants of its block, the host tools it runs and the host inputs a
// build reads (Backend); backend.go lists them, and the recipe language,
// the stage cache and builder doctor read that list, and builder doctor
// runs the host checks a backend declares (HostChecker). Config is the block
// as the recipe decodes it.
package bootstrap

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
)

// Backend is one bootstrap backend: what its block takes, what it needs
// of the build host, and how it creates a root filesystem in an empty
// directory. The recipe language, the cache key and builder doctor all
// read these declarations; adding a backend is a file here and a line in
// backends.
type Backend interface {
	// Name is the block's label: bootstrap "NAME" { … }.
	Name() string
	// Attributes are the block's attributes besides enabled, a trailing
	// "!" marking the required ones.
	Attributes() []string
	// Variants are the values its variant attribute takes, if it has one.
	Variants() []string
	// Tools are the programs and files of the build host it may run or
	// read (see Tool).
	Tools() []Tool
	// HostInputs are the host files and trees a block's build reads,
	// whose contents the stage cache's key holds.
	HostInputs(cfg *Config) []string
	Bootstrap(ctx context.Context, env Env, cfg *Config, dir string) error
}

// HostChecker is a Backend that checks more of the build host than that
// its tools are installed: builder doctor runs its checks for a recipe
// whose bootstrap block names it, after the tools and binfmt checks.
type HostChecker interface {
	HostChecks(host HostEnv, cfg *Config) []check.Result
}

// HostEnv is what a backend's host checks read of the build host; tests
// replace parts of it with fakes.
type HostEnv struct {
	// Distribution is the image's (see Env).
	Distribution string
	// ScriptsDir is where debootstrap's suite scripts are; empty means
	// DebootstrapScripts.
	ScriptsDir string
	// Stat is os.Stat.
	Stat func(string) (fs.FileInfo, error)
}

// Tool is a program of the build host that a backend runs, or a file it
// reads, with the Debian package that installs it.
type Tool struct {
	// Name is the program, looked up on PATH, or the absolute path of a
	// file.
	Name string
	// Package is the Debian package that installs it.
	Package string
	// For says which recipes need it, as the README's table says it.
	For string
	// Foreign marks a tool only a foreign architecture needs.
	Foreign bool
	// NeededBy says whether a block with cfg uses it; nil means every
	// block of the backend does.
	NeededBy func(cfg *Config) bool
}

// Env is what a backend may use besides its recipe block.
type Env struct {
	Arch   image.Architecture
	Runner *isolation.Runner
	// HTTP downloads tarball sources; nil means http.DefaultClient.
	HTTP *http.Client
	// WorkDir holds downloads, outside the rootfs.
	WorkDir string
	// Tmpfs sizes the scratch file systems of the commands a backend
	// runs.
	Tmpfs isolation.TmpfsSizes
	// Distribution is the image's: debootstrap runs a suite it has no
	// script for with that distribution's family script.
	Distribution string
	// ScriptsDir is where debootstrap's suite scripts are; empty means
	// DebootstrapScripts.
	ScriptsDir string
	// MaxExtract bounds what a tarball may expand to (see ExtractTar).
	MaxExtract int64
	// LookupEnv reads builder's environment (daemon sockets, client
	// configuration, credentials), as os.LookupEnv does; nil reads
	// nothing.
	LookupEnv func(string) (string, bool)
}

// backends are in the order builder doctor and the README list their
// tools.
var backends = []Backend{
	debootstrapBackend{tool: "debootstrap"},
	debootstrapBackend{tool: "mmdebstrap"},
	tarballBackend{},
	directoryBackend{},
	busyboxBackend{},
	imageBackend{},
	ociBackend{},
}

// Backends lists every backend, in the order their tools are reported.
func Backends() []Backend { return slices.Clone(backends) }

// Names lists the backends' names, sorted.
func Names() []string {
	names := make([]string, len(backends))
	for i, b := range backends {
		names[i] = b.Name()
	}
	slices.Sort(names)
	return names
}

// Lookup returns the backend a bootstrap block names.
func Lookup(name string) (Backend, error) {
	for _, b := range backends {
		if b.Name() == name {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no bootstrap backend %q; known: %s", name, strings.Join(Names(), ", "))
}

// localPath is p unless it is an https URL, which the build downloads
// and checks by its own pin (a sha256, fingerprints) rather than by a
// cache key of its contents.
func localPath(p string) []string {
	if p == "" || strings.HasPrefix(p, "https://") {
		return nil
	}
	return []string{p}
}
