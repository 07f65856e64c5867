package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/internal/testenv"
)

// What the root tests of `builder test` share: the busybox variants they
// build, what a daemon holds before and after, and their events.

// busyboxVariant builds recipes/busybox.hcl changed by edit into a
// directory of its own and returns the output directory. The recipe is
// written beside copies of the files and templates it names, so its
// relative paths hold.
func busyboxVariant(t *testing.T, name string, edit func(string) string) (outDir, recipePath string) {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	src, err := os.ReadFile(filepath.Join(repo, "recipes", "busybox.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(repo, "recipes", "files", "busybox"), filepath.Join(tmp, "recipes", "files", "busybox"))
	copyTree(t, filepath.Join(repo, "templates"), filepath.Join(tmp, "templates"))
	recipePath = filepath.Join(tmp, "recipes", name+".hcl")
	if err := os.WriteFile(recipePath, []byte(edit(string(src))), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir = filepath.Join(tmp, "out")
	if _, stderr, status := builderExec(t, nil, "build", recipePath, "-o", outDir, "-q"); status != 0 {
		t.Fatalf("building the %s variant: exit %d\n%s", name, status, stderr)
	}
	return outDir, recipePath
}

// What builder test names what it creates; other tests' resources,
// made at the same time on the same daemon, have other names.
var (
	testProjectOrAlias = regexp.MustCompile(`^builder-test-[0-9a-f]{8}$`)
	testInstance       = regexp.MustCompile(`^builder-test-(unprivileged|privileged|nic|vm|vm-nic)-[0-9a-f]{6}$`)
	testBridge         = regexp.MustCompile(`^btest[0-9a-f]{6}$`)
)

// leftovers lists what a test could leave on the daemon: its projects,
// the images in them, its instances and aliases in any project, its
// bridges and the host firewall rules naming them.
func leftovers(t *testing.T, d testenv.Daemon) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := lxd.NewUnixClient(lxd.Socket{Daemon: lxd.Daemon(d.Name), Path: d.Socket})
	var out []string
	projects, err := c.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		pc := c.WithProject(p)
		if testProjectOrAlias.MatchString(p) {
			out = append(out, "project "+p)
			images, err := pc.Images(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, fp := range images {
				out = append(out, "image "+fp+" in "+p)
			}
		}
		instances, err := pc.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range instances {
			if testInstance.MatchString(i) {
				out = append(out, "instance "+i+" in "+p)
			}
		}
		aliases, err := pc.Aliases(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range aliases {
			if testProjectOrAlias.MatchString(a.Name) {
				out = append(out, "alias "+a.Name+" in "+p)
			}
		}
	}
	networks, err := c.Networks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range networks {
		if testBridge.MatchString(n) {
			out = append(out, "network "+n)
		}
	}
	// A daemon may leave a deleted bridge's firewall rules behind.
	if rules, err := exec.Command("iptables-save").Output(); err == nil {
		for _, l := range strings.Split(string(rules), "\n") {
			if strings.Contains(l, "btest") {
				out = append(out, "iptables rule "+l)
			}
		}
	}
	return out
}

// assertNothingLeft fails t for each leftover that was not there before.
// Other tests on the same daemon may run builder test at the same time,
// and their projects and bridges look like this run's: what goes away
// within a minute and a half was theirs (what this run left stays).
func assertNothingLeft(t *testing.T, d testenv.Daemon, before []string, after string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var left []string
		for _, l := range leftovers(t, d) {
			if !slices.Contains(before, l) {
				left = append(left, l)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, l := range left {
				t.Errorf("%s on %s after %s", l, d.Name, after)
			}
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// testEvents runs `builder test --json` and returns its events, stderr
// and exit status.
func testEvents(t *testing.T, args ...string) ([]events.Event, string, int) {
	t.Helper()
	stdout, stderr, status := builderExec(t, nil, append([]string{"test", "--json"}, args...)...)
	return decodeEvents(t, stdout), stderr, status
}

// checkOf returns the check event of config and check ("" config for
// properties).
func checkOf(evs []events.Event, config, check string) (events.Event, bool) {
	for _, e := range evs {
		if e.Type == events.Check && e.Configuration == config && e.Check == check {
			return e, true
		}
	}
	return events.Event{}, false
}
