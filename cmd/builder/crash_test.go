package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/isolation"
)

// killPoint is where a build is killed: at the open(2) of a path
// containing the last of after, once each one before it has been seen
// in order; then skip more opens of any path.
type killPoint struct {
	name  string
	after []string
	skip  int
	// lxd: the build imports into LXD (the point is in the upload).
	lxd bool
}

// TestKillSweep kills builder with SIGKILL at every point of a busybox
// build where a kill could leave a mess: bootstrap, a run step, each
// packing phase of each image layout, each step of putting the image in
// place, and the upload to LXD. The kill lands exactly there: an
// openGate holds builder in open(2) while the test kills it. After
// each kill nothing is mounted, no process of the build is left,
// --output holds the complete previous image or the complete new one
// (its SHA256SUMS and image.json agree with the files, nothing else is
// there), and the next build leaves no work or staging directory.
func TestKillSweep(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	if testing.Short() {
		t.Skip("builds the busybox image twice per kill point")
	}
	bin := builderBinary(t)
	// Every image after the first has another SOURCE_DATE_EPOCH, so no
	// two have a byte in common: a file of one beside the description
	// of another cannot pass for complete.
	epoch := time.Now().Unix() - 1000
	for _, layout := range []struct {
		name   string
		args   []string
		points []killPoint
	}{
		{"unified", nil, []killPoint{
			{name: "bootstrap", after: []string{"/rootfs/bin/busybox"}},
			{name: "run-step", after: []string{"/etc/builder-recipe"}},
			{name: "packing", after: []string{"/.busybox-amd64.tar.gz.tmp-"}},
			{name: "packing-rootfs", after: []string{"/.busybox-amd64.tar.gz.tmp-", "/rootfs/etc/motd"}},
			{name: "image.json", after: []string{"/.image.json.tmp-"}},
		}},
		{"split-tar", []string{"--type", "split", "--rootfs-format", "tar"}, []killPoint{
			{name: "metadata", after: []string{"/.lxd.tar.gz.tmp-"}},
			{name: "rootfs", after: []string{"/.rootfs.tar.gz.tmp-"}},
			{name: "rootfs-midway", after: []string{"/.rootfs.tar.gz.tmp-", "/rootfs/etc/motd"}},
			{name: "fingerprint", after: []string{"/.rootfs.tar.gz.tmp-", "/lxd.tar.gz"}},
			{name: "SHA256SUMS", after: []string{"/.SHA256SUMS.tmp-"}},
			{name: "import", after: []string{"/.image.json.tmp-", "/rootfs.tar.gz"}, lxd: true},
		}},
		{"split-squashfs", []string{"--type", "split", "--rootfs-format", "squashfs"}, []killPoint{
			{name: "mksquashfs", after: []string{"/.rootfs.squashfs.tmp"}},
			{name: "mksquashfs-midway", after: []string{"/.rootfs.squashfs.tmp", "/rootfs/etc/motd"}},
			{name: "fingerprint", after: []string{"/.rootfs.squashfs.tmp", "/lxd.tar.gz"}},
		}},
	} {
		t.Run(layout.name, func(t *testing.T) {
			fs := mountTmpfs(t)
			parent := filepath.Join(fs, "builds")
			out := filepath.Join(parent, "out")
			build := func(extra ...string) []string {
				epoch++
				return append(append([]string{"build", "recipes/busybox.hcl", "-o", out, "--source-date-epoch", strconv.FormatInt(epoch, 10)}, layout.args...), extra...)
			}
			runBuilder(t, nil, build()...)
			prev := checkOutput(t, out)
			// Every step of putting the image in place, and of what
			// follows: the kill lands on each open after image.json's
			// until a build ends without reaching one.
			points := slices.Clone(layout.points)
			if layout.name == "split-tar" {
				for skip := 0; skip < 60; skip++ {
					points = append(points, killPoint{name: fmt.Sprintf("image.json+%d", skip), after: []string{"/.image.json.tmp-"}, skip: skip})
				}
			}
			for _, p := range points {
				var args []string
				if p.lxd {
					if exec.Command("lxc", "info").Run() != nil {
						continue
					}
					alias := "builder-test-kill-" + uniqueSuffix()
					args = append(args, "--import="+alias)
					t.Cleanup(func() { _ = exec.Command("lxc", "image", "delete", alias).Run() })
				}
				killed := false
				t.Run(p.name, func(t *testing.T) {
					killed = killBuildAt(t, bin, fs, parent, p, build(args...))
					if !killed {
						return
					}
					got := checkOutput(t, out)
					if got.Fingerprint != prev.Fingerprint {
						t.Logf("the killed build's image is in place")
					}
					runBuilder(t, nil, build()...)
					prev = checkOutput(t, out)
					if left := entries(t, parent); !slices.Equal(left, []string{"out"}) {
						t.Errorf("after the next build %s holds %v, want only out", parent, left)
					}
					if err := isolation.CheckNothingMounted(parent); err != nil {
						t.Error(err)
					}
				})
				if !killed && p.skip > 0 {
					break // the build ended before this open: the sweep is done
				}
				if !killed {
					t.Errorf("%s: the build never reached %v", p.name, p.after)
				}
			}
		})
	}
}

// killBuildAt starts builder with args and kills it with SIGKILL at
// point p, with an openGate on the filesystem fs. It returns false when
// the build ended without reaching p. Once builder is dead it checks
// that no process of the build is left and nothing is mounted below
// parent.
func killBuildAt(t *testing.T, bin, fs, parent string, p killPoint, args []string) bool {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join("..", "..")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	var (
		mu      sync.Mutex
		started bool
		next    int
		skip    = p.skip
		killed  bool
		at      string
	)
	// Once builder is killed, every later open waits until the checks
	// are done: a process of the build that outlived builder (a tool
	// it started) is then still there to be found, not finished.
	hold := make(chan struct{})
	self := os.Getpid()
	gate := newOpenGate(t, fs, func(e gateEvent) <-chan struct{} {
		if e.Pid == self {
			return nil // the checks below, looking
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case killed:
			return hold
		case !started:
			return nil
		case next < len(p.after):
			if !strings.Contains(e.Path, p.after[next]) {
				return nil
			}
			next++
			if next < len(p.after) || skip > 0 {
				return nil
			}
		default:
			if skip--; skip > 0 {
				return nil
			}
		}
		// builder waits in open(2) until this returns.
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			killed, at = true, e.Path
		}
		return nil
	})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(hold) }) })
	mu.Lock()
	if err := cmd.Start(); err != nil {
		mu.Unlock()
		t.Fatal(err)
	}
	started = true
	mu.Unlock()
	err := cmd.Wait()
	mu.Lock()
	wasKilled := killed
	mu.Unlock()
	if !wasKilled {
		if err != nil {
			t.Fatalf("the build failed before %v: %v\n%s", p.after, err, log.String())
		}
		if err := gate.close(); err != nil {
			t.Error(err)
		}
		return false
	}
	t.Logf("killed builder at its open of %s", at)
	// The kernel kills the build's own processes once builder is gone;
	// the gate lets their last opens through meanwhile.
	deadline := time.Now().Add(10 * time.Second)
	for len(processesUsing(fs)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := processesUsing(fs); len(left) > 0 {
		t.Errorf("processes of the killed build are left: %v", left)
	}
	release.Do(func() { close(hold) })
	if err := gate.close(); err != nil {
		t.Error(err)
	}
	if err := isolation.CheckNothingMounted(parent); err != nil {
		t.Errorf("after the kill: %v", err)
	}
	return true
}

// processesUsing lists the processes other than this one with a root,
// working directory or open file in dir or below it, or whose root is
// the same directory as a rootfs below it (a sandboxed command's root
// is a bind mount of one, which shows another path).
func processesUsing(dir string) []string {
	roots := map[[2]uint64]bool{}
	if works, _ := filepath.Glob(filepath.Join(dir, "*", ".builder-work-*", "rootfs")); len(works) > 0 {
		for _, w := range works {
			var st syscall.Stat_t
			if syscall.Stat(w, &st) == nil {
				roots[[2]uint64{st.Dev, st.Ino}] = true
			}
		}
	}
	self := strconv.Itoa(os.Getpid())
	var found []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil || p.Name() == self {
			continue
		}
		base := "/proc/" + p.Name()
		links := []string{base + "/root", base + "/cwd"}
		fds, _ := os.ReadDir(base + "/fd")
		for _, fd := range fds {
			links = append(links, base+"/fd/"+fd.Name())
		}
		for _, l := range links {
			target, err := os.Readlink(l)
			if err == nil && (target == dir || strings.HasPrefix(target, dir+"/")) {
				found = append(found, p.Name()+" "+commOf(base)+" ("+target+")")
				break
			}
		}
		var st syscall.Stat_t
		if syscall.Stat(base+"/root", &st) == nil && roots[[2]uint64{st.Dev, st.Ino}] {
			found = append(found, p.Name()+" "+commOf(base)+" (rooted in the rootfs)")
		}
	}
	return found
}

func commOf(proc string) string {
	b, _ := os.ReadFile(proc + "/comm")
	return strings.TrimSpace(string(b))
}
