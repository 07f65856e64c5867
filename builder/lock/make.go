package lock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// MakeRequest is one build of a recipe to lock.
type MakeRequest struct {
	Plan *recipe.Plan
	// WorkDir holds the rootfs while it is read; it is removed after.
	WorkDir string
	// Cache is the stage cache: locking after a build of the same
	// recipe restores its last snapshot instead of building.
	Cache       cache.Policy
	Environ     []string
	Log, Stderr io.Writer
}

// Make locks a plan's build: its inputs' digests, then a real rootfs
// stage (from the cache when it has it), whose dpkg status is the truth
// of what the build installs.
func Make(ctx context.Context, req MakeRequest, sink events.Sink) (b Block, err error) {
	b.Key = KeyOf(req.Plan)
	if b.Inputs, err = Inputs(req.Plan); err != nil {
		return Block{}, err
	}
	dir, err := os.MkdirTemp(req.WorkDir, ".builder-lock-")
	if err != nil {
		return Block{}, fmt.Errorf("locking %s: %w", b.Key, err)
	}
	defer func() {
		// The stage made device nodes and root-owned trees; RemoveTree
		// proves nothing is mounted there first.
		if rmErr := isolation.RemoveTree(dir); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
	}()
	rootfs, err := build.Rootfs(ctx, build.RootfsRequest{Plan: req.Plan, Dir: filepath.Join(dir, "rootfs"), Cache: req.Cache,
		Environ: req.Environ, Log: req.Log, Stderr: req.Stderr}, sink)
	if err != nil {
		return Block{}, err
	}
	pkgs, err := image.ReadDpkgStatus(rootfs)
	if err != nil {
		return Block{}, err
	}
	b.Packages = FromImage(pkgs)
	if err := CheckLocksSomething(req.Plan, &b); err != nil {
		return Block{}, fmt.Errorf("locking: %w", err)
	}
	if bs := req.Plan.Bootstrap(); bs != nil && bs.ArchiveMirror() == "" && (bs.Backend == "debootstrap" || bs.Backend == "mmdebstrap") {
		if b.Mirror, b.Suites, err = stageMirror(rootfs, bs); err != nil {
			return Block{}, err
		}
	}
	return b, nil
}

// stageMirror is the mirror the bootstrap tool chose by itself, as the
// sources.list it wrote names it for the suite: build --locked checks
// that archive. suites are the other lines of the same suite's family
// (SUITE-updates, SUITE-security), which mmdebstrap adds for a stable
// release and installs from.
func stageMirror(rootfs string, bs *bootstrap.Config) (mirror string, suites []SuiteSource, err error) {
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return "", nil, fmt.Errorf("reading the stage's apt sources: %w", err)
	}
	defer r.Close()
	f, err := r.OpenFile("etc/apt/sources.list", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", nil, fmt.Errorf("reading the stage's apt sources: %w", err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return "", nil, fmt.Errorf("reading the stage's apt sources: /etc/apt/sources.list is not a regular file")
	}
	return parseStageSources(io.LimitReader(f, 1<<20), bs.Suite)
}

// parseStageSources reads one-line sources: the first "deb" line of
// suite is the mirror; the other deb lines of suite's family follow.
func parseStageSources(r io.Reader, suite string) (mirror string, suites []SuiteSource, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// "deb [options] URL SUITE …": the options are the tool's, not
		// the mirror's.
		if len(fields) > 1 && fields[0] == "deb" && strings.HasPrefix(fields[1], "[") {
			end := slices.IndexFunc(fields[1:], func(f string) bool { return strings.HasSuffix(f, "]") })
			if end < 0 {
				continue
			}
			fields = append([]string{"deb"}, fields[end+2:]...)
		}
		if len(fields) < 3 || fields[0] != "deb" || !validMirror(fields[1]) {
			continue
		}
		url, s, components := fields[1], fields[2], fields[3:]
		switch {
		case s == suite && mirror == "":
			mirror = url
		case strings.HasPrefix(s, suite+"-") || strings.HasPrefix(s, suite+"/"):
			if validSuite.MatchString(s) && len(components) > 0 && validComponents.MatchString(strings.Join(components, " ")) {
				suites = append(suites, SuiteSource{URL: url, Suite: s, Components: components})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, fmt.Errorf("reading the stage's apt sources: %w", err)
	}
	if mirror == "" {
		return "", nil, fmt.Errorf("the stage's /etc/apt/sources.list names no deb source for %s: set the bootstrap block's mirror", suite)
	}
	return mirror, suites, nil
}
