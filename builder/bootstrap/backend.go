// Package bootstrap holds the bootstrap backends: each creates an
// image's first root filesystem in an empty directory, from a Debian
// mirror (debootstrap.go, debootstrap's suite scripts and keyrings
// beside it), an archive (tarball.go), a host directory (directory.go)
// or one static busybox binary (busybox.go). backend.go lists them.
package bootstrap

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// Backend creates a root filesystem in an empty directory.
type Backend interface {
	Bootstrap(ctx context.Context, env Env, b *recipe.Bootstrap, dir string) error
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
}

// backends maps the recipe's backend names to implementations. The
// recipe package lists the same names with their attributes; a test
// keeps the two in step.
var backends = map[string]Backend{
	"debootstrap": debootstrapBackend{tool: "debootstrap"},
	"mmdebstrap":  debootstrapBackend{tool: "mmdebstrap"},
	"tarball":     tarballBackend{},
	"directory":   directoryBackend{},
	"busybox":     busyboxBackend{},
}

// BackendNames lists the registered backends, sorted.
func BackendNames() []string { return slices.Sorted(maps.Keys(backends)) }

// Lookup returns the backend a bootstrap block names.
func Lookup(name string) (Backend, error) {
	b, ok := backends[name]
	if !ok {
		return nil, fmt.Errorf("no bootstrap backend %q; known: %s", name, strings.Join(BackendNames(), ", "))
	}
	return b, nil
}
