package isolation_test

// BenchmarkSandboxCommand measures what the sandbox adds to each command
// a build runs in the image (every apt-get, every run step), as root:
//
//	go test -run '^$' -bench Sandbox ./builder/isolation
//
// It runs /bin/true in a busybox image through builder's sandbox, through
// bubblewrap giving the same isolation (new mount and PID namespaces, the
// image bound as root, a fresh proc, the same capabilities, a new
// session), and through a plain chroot, what builder did before. Metrics:
//
//	ours-ms, bwrap-ms, chroot-ms   wall time of one command
//	ours/bwrap                     the ratio against bubblewrap
//	ours-RSS-MiB, bwrap-RSS-MiB    peak resident memory of one command,
//	                               sandbox included (/usr/bin/time %M)

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

// commandsPerRound is how many commands each way runs per iteration.
const commandsPerRound = 50

func BenchmarkSandboxCommand(b *testing.B) {
	testenv.Root(b)
	testenv.File(b, "/bin/busybox", "busybox-static")
	bwrap := testenv.Command(b, "bwrap", "bubblewrap")
	testenv.File(b, "/usr/bin/time", "time")
	dir := b.TempDir()
	busybox, err := bootstrap.Lookup("busybox")
	if err != nil {
		b.Fatal(err)
	}
	amd64, _ := image.LookupArchitecture("amd64")
	if err := busybox.Bootstrap(context.Background(), bootstrap.Env{Arch: amd64}, &bootstrap.Config{Binary: "/bin/busybox"}, dir); err != nil {
		b.Fatal(err)
	}
	chroot, err := isolation.SetupChroot(dir, isolation.TmpfsSizes{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := chroot.Teardown(); err != nil {
			b.Error(err)
		}
	})
	ours := func() *exec.Cmd {
		cmd, err := isolation.SandboxCommand(context.Background(), isolation.SandboxSpec{Root: dir, Argv: []string{"/bin/true"}, Env: isolation.BaseEnv, Caps: capability.Build})
		if err != nil {
			b.Fatal(err)
		}
		return cmd
	}
	bwrapArgs := []string{"--unshare-pid", "--bind", dir, "/", "--proc", "/proc", "--new-session", "--cap-drop", "ALL"}
	for _, c := range capability.Build.List() {
		bwrapArgs = append(bwrapArgs, "--cap-add", "CAP_"+c)
	}
	theirs := func() *exec.Cmd { return exec.Command(bwrap, append(bwrapArgs, "/bin/true")...) }
	plain := func() *exec.Cmd {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
		cmd.Dir = "/"
		return cmd
	}
	var m benchutil.Metrics
	for range b.N {
		o, t, p := timeCommands(b, ours), timeCommands(b, theirs), timeCommands(b, plain)
		m.Add("ours-ms", o)
		m.Add("bwrap-ms", t)
		m.Add("chroot-ms", p)
		m.Add("ours/bwrap", o/t)
	}
	// unshare makes the helper PID 1 of a new PID namespace, as the
	// runner's clone does.
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	sandboxed := ours()
	m.Add("ours-RSS-MiB", peakMiB(b, sandboxed.ExtraFiles, append([]string{"unshare", "--pid", "--mount", "--fork", "--", exe}, sandboxed.Args[1:]...)...))
	m.Add("bwrap-RSS-MiB", peakMiB(b, nil, theirs().Args...))
	m.Report(b)
}

// timeCommands runs commandsPerRound commands made by mk, one after the
// other, and returns the mean wall time of one in milliseconds.
func timeCommands(b *testing.B, mk func() *exec.Cmd) float64 {
	b.Helper()
	start := time.Now()
	for range commandsPerRound {
		cmd := mk()
		out, err := cmd.CombinedOutput()
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
	return float64(time.Since(start).Milliseconds()) / commandsPerRound
}

// peakMiB runs argv under /usr/bin/time, extra as its fds from 3 on, and returns the peak resident
// memory of it and what it waited for. Both run from C programs that
// fork: a child Go starts reports its parent's peak (see
// benchutil.WatchPeaks).
func peakMiB(b *testing.B, extra []*os.File, argv ...string) float64 {
	b.Helper()
	timed := exec.Command("/usr/bin/time", append([]string{"-f", "%M"}, argv...)...)
	timed.ExtraFiles = extra
	out, err := timed.CombinedOutput()
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	kib, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		b.Fatalf("reading /usr/bin/time's output %q: %v", out, err)
	}
	return kib / 1024
}
