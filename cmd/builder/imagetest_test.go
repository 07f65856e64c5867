package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/internal/testenv"
)

// The root tests of `builder test`: the busybox image passes on each
// daemon, broken variants of it fail with the right check named, and
// nothing the test creates outlives it: not after a pass, a failure,
// --timeout or Ctrl-C.

func TestImageTestBusybox(t *testing.T) {
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	out, _ := busyboxVariant(t, "busybox", func(s string) string { return s })
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			before := leftovers(t, d)
			start := time.Now()
			evs, stderr, status := testEvents(t, append(d.Args(), out)...)
			if status != 0 {
				t.Fatalf("builder test: exit %d\n%s", status, stderr)
			}
			t.Logf("busybox: every configuration on %s in %s", d.Name, time.Since(start).Round(100*time.Millisecond))
			if evs[0].Type != events.TestStart || evs[0].Daemon != d.Name ||
				!slices.Equal(evs[0].Configurations, []string{"unprivileged", "privileged", "nic"}) {
				t.Errorf("test_start %+v", evs[0])
			}
			for _, config := range []string{"unprivileged", "privileged", "nic"} {
				want := []string{"start", "exec", "running", "hostname", "test:motd", "stop"}
				if config == "nic" {
					want = append(want, "network")
				}
				for _, check := range want {
					if e, ok := checkOf(evs, config, check); !ok || e.Status != events.StatusOK {
						t.Errorf("%s %s: %+v", config, check, e)
					}
				}
			}
			if e, ok := checkOf(evs, "nic", "network"); ok && !strings.HasPrefix(e.Detail, "10.") {
				t.Errorf("nic address %q", e.Detail)
			}
			end := evs[len(evs)-1]
			if end.Type != events.TestEnd || end.Status != events.StatusOK || *end.Failed != 0 || *end.Passed != 20 {
				t.Errorf("test_end %+v", end)
			}
			assertNothingLeft(t, d, before, "a passing test")

			// In an existing project, under a temporary alias; the text
			// view says it passed.
			stdout, stderr, status := builderExec(t, nil, append(d.Args(), "test", out, "--project", "default", "--config", "unprivileged")...)
			if status != 0 || !strings.Contains(stdout, "PASSED  busybox-amd64") || !strings.Contains(stdout, "    ok      hostname (") {
				t.Errorf("test --project default: exit %d\n%s\n%s", status, stdout, stderr)
			}
			assertNothingLeft(t, d, before, "a passing test in --project default")
			userImageSurvives(t, d, out)
		})
	}
}

// userImageSurvives checks that an image the user already had in the
// project, under an alias of theirs, outlives `builder test --project`:
// only what the test's own upload stored is the test's to delete.
func userImageSurvives(t *testing.T, d testenv.Daemon, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := lxd.NewUnixClient(lxd.Socket{Daemon: lxd.Daemon(d.Name), Path: d.Socket}).WithProject("default")
	j, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	alias := fmt.Sprintf("user-busybox-%d", time.Now().UnixNano())
	if _, err := lxd.Import(ctx, c, lxd.ImportOptions{Dir: out, Image: j, Aliases: []string{alias}}); err != nil {
		t.Fatal(err)
	}
	defer c.DeleteImage(context.Background(), j.Fingerprint)
	stdout, stderr, status := builderExec(t, nil, append(d.Args(), "test", out, "--project", "default", "--config", "unprivileged")...)
	if status != 0 {
		t.Errorf("test --project default with the image there: exit %d\n%s\n%s", status, stdout, stderr)
	}
	if got, err := c.Alias(ctx, alias); err != nil || got.Target != j.Fingerprint {
		t.Errorf("the user's image or alias %s is gone after builder test --project: %+v %v", alias, got, err)
	}
}

// brokenVariants are busybox images broken in one way each, with the
// check that must fail and what it must say.
var brokenVariants = []struct {
	name   string
	edit   func(string) string
	check  string
	detail string
}{
	{"broken-init", func(s string) string {
		return s + `
run "break-init" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    rm -f /sbin/init
    printf '#!/bin/sh\necho "init: cannot mount /proc"\nsleep 1\nexit 1\n' > /sbin/init
    chmod 755 /sbin/init
  EOT
}
`
	}, "running", "PID 1 is gone"},
	{"no-hostname", func(s string) string {
		return strings.Replace(s, "template \"/etc/hostname\" {\n  source = \"../templates/hostname.tpl\"\n}\n", "", 1)
	}, "hostname", "the image has no template for /etc/hostname"},
	{"failing-test", func(s string) string {
		return s + `
test "fails" {
  script = <<-EOT
    #!/bin/sh
    echo checking the thing
    exit 3
  EOT
}
`
	}, "test:fails", "exit status 3: checking the thing"},
}

func TestImageTestBrokenImages(t *testing.T) {
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	type built struct{ out, recipe string }
	outs := map[string]built{}
	for _, v := range brokenVariants {
		out, recipe := busyboxVariant(t, v.name, v.edit)
		outs[v.name] = built{out, recipe}
	}
	for _, d := range daemons {
		for _, v := range brokenVariants {
			t.Run(d.Name+"/"+v.name, func(t *testing.T) {
				before := leftovers(t, d)
				evs, stderr, status := testEvents(t, append(d.Args(), outs[v.name].out, "--config", "unprivileged")...)
				if status != 1 {
					t.Fatalf("exit %d, want 1\n%s", status, stderr)
				}
				e, ok := checkOf(evs, "unprivileged", v.check)
				if !ok || e.Status != events.StatusFailed || !strings.Contains(e.Detail, v.detail) {
					t.Errorf("check %s: %+v, want failed with %q", v.check, e, v.detail)
				}
				var failed []string
				for _, e := range evs {
					if e.Type == events.Check && e.Status == events.StatusFailed {
						failed = append(failed, e.Check)
					}
				}
				if !slices.Equal(failed, []string{v.check}) {
					t.Errorf("failed checks %v, want only %s", failed, v.check)
				}
				if v.check == "test:fails" && (e.Error == nil || e.Error.File != outs[v.name].recipe || e.Error.Line == 0 ||
					e.Error.ExitStatus == nil || *e.Error.ExitStatus != 3 || !slices.Contains(e.Error.Tail, "checking the thing")) {
					t.Errorf("the failing block's error: %+v", e.Error)
				}
				assertNothingLeft(t, d, before, "a failed test")
			})
		}
		t.Run(d.Name+"/keep-on-failure", func(t *testing.T) {
			before := leftovers(t, d)
			stdout, stderr, status := builderExec(t, nil, append(d.Args(), "test", outs["no-hostname"].out, "--config", "unprivileged", "--keep-on-failure")...)
			if status != 1 || !strings.Contains(stdout, "FAILED  busybox-amd64") ||
				!strings.Contains(stdout, "unprivileged: hostname: the image has no template for /etc/hostname") {
				t.Fatalf("exit %d\n%s\n%s", status, stdout, stderr)
			}
			kept := leftovers(t, d)
			if len(kept) <= len(before) {
				t.Errorf("--keep-on-failure kept nothing: %v", kept)
			}
			// Each line names what was kept and the command that removes
			// it, in the order they must run.
			keptLine := regexp.MustCompile(`(?m)^(?:\d\d:\d\d:\d\d )?  (?:instance|image|alias|project|bridge) [^:]+: (.+)$`)
			cmds := keptLine.FindAllStringSubmatch(stdout, -1)
			if len(cmds) == 0 {
				t.Errorf("no commands to remove what was kept:\n%s", stdout)
			}
			for _, m := range cmds {
				cmd := m[1]
				if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", cmd, err, out)
				}
			}
			assertNothingLeft(t, d, before, "running the commands --keep-on-failure printed")
		})
	}
}

func TestImageTestTimeoutAndInterrupt(t *testing.T) {
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	out, _ := busyboxVariant(t, "busybox", func(s string) string { return s })
	for _, d := range daemons {
		t.Run(d.Name+"/timeout", func(t *testing.T) {
			before := leftovers(t, d)
			evs, stderr, status := testEvents(t, append(d.Args(), out, "--config", "nic", "--timeout", "1s")...)
			if status != 1 {
				t.Fatalf("exit %d, want 1\n%s", status, stderr)
			}
			var timedOut bool
			for _, e := range evs {
				if e.Type == events.Check && e.Status == events.StatusFailed {
					timedOut = strings.Contains(e.Detail, "timed out after 1s (--timeout)") || strings.Contains(e.Detail, "deadline")
					if !timedOut {
						t.Errorf("failed check %s: %q, want a timeout", e.Check, e.Detail)
					}
				}
			}
			if !timedOut {
				t.Error("no check timed out")
			}
			assertNothingLeft(t, d, before, "--timeout")
		})
		// Ctrl-C while the second configuration's instance is being
		// created, and while the first's checks run.
		// And while the image is being uploaded into --project: what the
		// upload stored is removed all the same.
		for _, at := range []struct{ name, config, check string }{
			{"during-create", "privileged", ""},
			{"during-checks", "unprivileged", "exec"},
			{"during-upload", "", ""},
		} {
			t.Run(d.Name+"/interrupt-"+at.name, func(t *testing.T) {
				before := leftovers(t, d)
				args := append(d.Args(), "test", "--json", out)
				project := lxd.NewUnixClient(lxd.Socket{Daemon: lxd.Daemon(d.Name), Path: d.Socket}).WithProject("default")
				j, err := image.ReadImageJSON(out)
				if err != nil {
					t.Fatal(err)
				}
				if at.name == "during-upload" {
					if _, err := project.Image(context.Background(), j.Fingerprint); err == nil {
						t.Skip("the image is in project default already (another test's)")
					}
					args = append(args, "--project", "default")
				}
				cmd := exec.Command(builderBinary(t), args...)
				cmd.Dir = filepath.Join("..", "..")
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(stdout)
				var rest []string
				signalled := false
				for sc.Scan() {
					line := sc.Text()
					rest = append(rest, line)
					if signalled {
						continue
					}
					inConfig := strings.Contains(line, `"configuration":"`+at.config+`"`) &&
						((at.check == "" && strings.Contains(line, `"type":"config_start"`)) ||
							(at.check != "" && strings.Contains(line, `"check":"`+at.check+`"`)))
					hit := inConfig || (at.config == "" && strings.Contains(line, `"type":"test_start"`))
					if hit {
						if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
							t.Fatal(err)
						}
						signalled = true
					}
				}
				err = cmd.Wait()
				if !signalled {
					t.Fatalf("never saw the moment to interrupt:\n%s\n%s", strings.Join(rest, "\n"), stderr.String())
				}
				if exitErr, ok := err.(*exec.ExitError); !ok || exitErr.ExitCode() != 130 {
					t.Errorf("exit %v, want 130\n%s", err, stderr.String())
				}
				evs := decodeEvents(t, strings.Join(rest, "\n")+"\n")
				if end := evs[len(evs)-1]; end.Type != events.TestEnd || end.Status != events.StatusInterrupted {
					t.Errorf("last event %+v, want test_end interrupted", end)
				}
				assertNothingLeft(t, d, before, "SIGINT "+at.name)
				if at.name == "during-upload" {
					if _, err := project.Image(context.Background(), j.Fingerprint); !lxd.IsNotFound(err) {
						t.Errorf("image %s left in project default after SIGINT during its upload (%v)", j.Fingerprint, err)
					}
				}
				if t.Failed() {
					t.Logf("stderr:\n%s", stderr.String())
				}
			})
		}
	}
}

// TestImageTestDebian tests the shipped Debian recipe's container
// images: the default variant with `build --test` on the first daemon
// (LXD where both run), the cloud variant (with its cloud-init checks)
// with `builder test` on the last (Incus), so each daemon boots Debian
// without repeating what another run showed. The default variant is not
// tested again on Incus: builder test's path is the same for both
// daemons (one client, Incus's header names), the cloud image (the
// default's packages and steps, plus cloud-init) passes every check and
// test block there, busybox's images pass and fail there, and
// TestEndToEndDebian boots the default image on Incus to "running"
// with and without a NIC. It builds twice, so -short skips it.
func TestImageTestDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("debootstraps Debian twice and boots it in every configuration (minutes)")
	}
	daemons := testenv.Daemons(t)
	testenv.Command(t, "debootstrap", "debootstrap")
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	for _, variant := range []string{"default", "cloud"} {
		t.Run(variant, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			start := time.Now()
			// The cloud build restores the default's bootstrap from the
			// shared cache, and TestVMImageDebian the default's common steps.
			args := []string{"build", "recipes/debian.hcl", "--only", "container", "--var", "variant=" + variant, "-o", out, "--cache-dir", debianCache(t)}
			var testOn []testenv.Daemon
			if variant == "cloud" {
				testOn = daemons[len(daemons)-1:]
			} else {
				// The daemon flags are delivery flags: build takes them
				// only with --test (or --import).
				args = append(append(args, "--test"), daemons[0].Args()...)
			}
			stdout, stderr, status := builderExec(t, nil, args...)
			if status != 0 {
				t.Fatalf("%v on %s: exit %d\n%s\n%s", args, daemons[0].Name, status, tail([]byte(stdout), 60), stderr)
			}
			t.Logf("%s: build on %s in %s", variant, daemons[0].Name, time.Since(start).Round(time.Second))
			dir := filepath.Join(out, "container")
			for _, d := range testOn {
				before := leftovers(t, d)
				start := time.Now()
				evs, stderr, status := testEvents(t, append(d.Args(), dir)...)
				if status != 0 {
					var failed []string
					for _, e := range evs {
						if e.Type == events.Check && e.Status == events.StatusFailed {
							failed = append(failed, e.Configuration+" "+e.Check+": "+e.Detail)
						}
					}
					t.Errorf("builder test on %s: exit %d\n%s\n%s", d.Name, status, strings.Join(failed, "\n"), stderr)
					continue
				}
				t.Logf("%s: builder test on %s in %s", variant, d.Name, time.Since(start).Round(100*time.Millisecond))
				if _, ok := checkOf(evs, "nic", "cloud-init"); ok != (variant == "cloud") {
					t.Errorf("cloud-init check run: %v, want %v", ok, variant == "cloud")
				}
				assertNothingLeft(t, d, before, "testing Debian "+variant)
			}
		})
	}
}

// TestImageTestBuildImport checks that build --import --test delivers
// only an output that passed its test.
func TestImageTestBuildImport(t *testing.T) {
	requireBusybox(t)
	d := testenv.Daemons(t)[0]
	c := lxd.NewUnixClient(lxd.Socket{Daemon: lxd.Daemon(d.Name), Path: d.Socket})
	for _, v := range []struct {
		name   string
		edit   func(string) string
		status int
	}{
		{"passing", func(s string) string { return s }, 0},
		{"failing-test", brokenVariants[2].edit, 1},
	} {
		t.Run(v.name, func(t *testing.T) {
			_, recipe := busyboxVariant(t, v.name, v.edit)
			alias := fmt.Sprintf("user-tested-%d", time.Now().UnixNano())
			out := filepath.Join(t.TempDir(), "out")
			// Quiet: a failure and the output held back are still told.
			stdout, stderr, status := builderExec(t, nil, append([]string{"build", recipe, "-q", "-o", out, "--import=" + alias, "--test", "--test-config", "unprivileged"}, d.Args()...)...)
			got, err := c.Alias(context.Background(), alias)
			if err == nil {
				defer c.DeleteImage(context.Background(), got.Target)
			}
			if status != v.status {
				t.Fatalf("exit %d, want %d\n%s\n%s", status, v.status, stdout, stderr)
			}
			if imported := err == nil; imported != (v.status == 0) {
				t.Errorf("imported %v after exit %d (%v)\n%s\n%s", imported, status, err, stdout, stderr)
			}
			if v.status != 0 && (!strings.Contains(stderr, "unprivileged: test:fails") || !strings.Contains(stderr, "not imported: it did not pass its test")) {
				t.Errorf("build -q --test says nothing of the failure on stderr:\n%s", stderr)
			}
		})
	}
}

// TestImageTestMisconfiguration checks that what the command line gets
// wrong is a usage error (exit 2) said before anything is created, not
// a failure of the image.
func TestImageTestMisconfiguration(t *testing.T) {
	requireBusybox(t)
	d := testenv.Daemons(t)[0]
	out, _ := busyboxVariant(t, "busybox", func(s string) string { return s })
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--network", "nosuchbr0"}, "--network nosuchbr0: "},
		{[]string{"--project", "no-such-project"}, "--project no-such-project: "},
		{[]string{"--config", "vm"}, "a container image runs in the configurations"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := leftovers(t, d)
			stdout, stderr, status := builderExec(t, nil, append(append(d.Args(), "test", out), tt.args...)...)
			if status != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d with %q\n%s\n%s", status, exitUsage, tt.want, stdout, stderr)
			}
			if strings.Contains(stdout, "==> test") {
				t.Errorf("the test started:\n%s", stdout)
			}
			assertNothingLeft(t, d, before, "a misconfigured test")
		})
	}
}
