package imagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

func TestRunPasses(t *testing.T) {
	f := newFake()
	res, err, sink := testRun(context.Background(), f, testImage(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusOK || res.Failed != 0 {
		t.Fatalf("result %+v", res)
	}
	want := []string{"/properties=ok"}
	for _, c := range []string{"unprivileged", "privileged", "nic"} {
		for _, check := range []string{"start", "exec", "running", "hostname"} {
			want = append(want, c+"/"+check+"=ok")
		}
		if c == "nic" {
			want = append(want, "nic/network=ok")
		}
		want = append(want, c+"/stop=ok")
	}
	if got := sink.checks(); !slices.Equal(got, want) {
		t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Passed != len(want) {
		t.Errorf("passed %d, want %d", res.Passed, len(want))
	}
	if len(f.launched) != 3 || !slices.Equal(f.launched, f.deleted) || f.cleanups != 1 {
		t.Errorf("launched %v, deleted %v, cleanups %d", f.launched, f.deleted, f.cleanups)
	}
	for _, name := range f.launched {
		if !strings.HasPrefix(name, "builder-test-") || len(name) > 63 {
			t.Errorf("instance name %q", name)
		}
	}
	first, last := sink.evs[0], sink.evs[len(sink.evs)-1]
	if first.Type != events.TestStart || !slices.Equal(first.Configurations, []string{"unprivileged", "privileged", "nic"}) ||
		first.Daemon != "fake" || first.Image != "fake-image" || first.Output != "out/fake" {
		t.Errorf("test_start %+v", first)
	}
	if last.Type != events.TestEnd || last.Status != events.StatusOK || *last.Passed != res.Passed || *last.Failed != 0 {
		t.Errorf("test_end %+v", last)
	}
	if got := sink.find("nic", "network").Detail; got != "10.0.0.2" {
		t.Errorf("network detail %q", got)
	}
}

func TestRunSelectsConfigurations(t *testing.T) {
	f := newFake()
	_, err, sink := testRun(context.Background(), f, testImage(), Options{Configs: []string{"privileged"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.launched) != 1 || !strings.HasPrefix(f.launched[0], "builder-test-privileged-") {
		t.Errorf("launched %v", f.launched)
	}
	if got := sink.evs[0].Configurations; !slices.Equal(got, []string{"privileged"}) {
		t.Errorf("configurations %v", got)
	}
}

func TestConfigurations(t *testing.T) {
	got, err := Configurations(image.InstanceVM, nil)
	if err != nil || len(got) != 2 || got[0].Name != "vm" || got[1].Name != "vm-nic" || !got[1].NIC {
		t.Errorf("vm configurations %+v, %v", got, err)
	}
	got, err = Configurations(image.InstanceContainer, nil)
	if err != nil || len(got) != 3 || !got[1].Privileged || !got[2].NIC || got[2].Privileged {
		t.Errorf("container configurations %+v, %v", got, err)
	}
	if _, err := Configurations(image.InstanceContainer, []string{"bogus"}); err == nil || !strings.Contains(err.Error(), `no configuration "bogus"`) {
		t.Errorf("unknown configuration: %v", err)
	}
	if _, err := Configurations(image.InstanceContainer, []string{"vm"}); err == nil || !strings.Contains(err.Error(), "runs in the configurations unprivileged, privileged, nic") {
		t.Errorf("vm configuration for a container image: %v", err)
	}
}

// failOne runs the fake with exec answering broken for one command, and
// returns the failure of the check.
func TestRunFailures(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(f *fakeBackend, img *Image)
		check  string
		detail string
	}{
		{"properties", func(f *fakeBackend, img *Image) {
			f.props = map[string]string{"os": "debian", "release": "trixie", "extra": "x"}
		}, "properties", `release is "trixie", image.json says "bookworm"; extra = "x" is not in image.json`},
		{"start", func(f *fakeBackend, img *Image) {
			f.launchErr = errors.New("Failed to start: no such pool")
			f.console = "boom\n"
		}, "start", "Failed to start: no such pool\nconsole:\nboom"},
		{"exec", func(f *fakeBackend, img *Image) {
			f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
				if argv[0] == "echo" {
					return ExecResult{}, errors.New("Instance is not running"), true
				}
				return ExecResult{}, nil, false
			}
		}, "exec", "Instance is not running"},
		{"degraded", func(f *fakeBackend, img *Image) {
			f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
				switch strings.Join(argv, " ") {
				case "systemctl is-system-running --wait":
					return ExecResult{Stdout: "degraded\n", ExitStatus: 1}, nil, true
				case "systemctl --failed --no-legend --plain":
					return ExecResult{Stdout: "systemd-binfmt.service loaded failed failed Set Up Additional Binary Formats\n"}, nil, true
				}
				return ExecResult{}, nil, false
			}
		}, "running", "degraded; failed units: systemd-binfmt.service"},
		{"hostname template", func(f *fakeBackend, img *Image) {
			img.Metadata.Templates = nil
		}, "hostname", "the image has no template for /etc/hostname"},
		{"hostname content", func(f *fakeBackend, img *Image) {
			f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
				if strings.Join(argv, " ") == "cat /etc/hostname" {
					return ExecResult{Stdout: "localhost\n"}, nil, true
				}
				return ExecResult{}, nil, false
			}
		}, "hostname", `/etc/hostname holds "localhost", not the instance's name`},
		{"stop", func(f *fakeBackend, img *Image) {
			f.stopErr = errors.New("still Running")
		}, "stop", "a clean stop did not end within 30s: still Running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, img := newFake(), testImage()
			tt.break_(f, img)
			res, err, sink := testRun(context.Background(), f, img, Options{Configs: []string{"unprivileged"}})
			if err != nil {
				t.Fatal(err)
			}
			config := "unprivileged"
			if tt.check == "properties" {
				config = ""
			}
			e := sink.find(config, tt.check)
			if e.Status != events.StatusFailed || !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("check %s: %s %q, want failed with %q", tt.check, e.Status, e.Detail, tt.detail)
			}
			if res.Status != events.StatusFailed || res.Failed != 1 || res.Failures[0].Check != tt.check {
				t.Errorf("result %+v", res)
			}
			// After the failure the configuration's checks are skipped,
			// its instance deleted, and everything cleaned up. (A
			// properties failure is the image's: the configurations
			// still run.)
			after := false
			for _, c := range sink.checks() {
				if after && !strings.HasSuffix(c, "=skipped") {
					t.Errorf("check after the failure: %s", c)
				}
				if c == config+"/"+tt.check+"=failed" && config != "" {
					after = true
				}
			}
			if f.cleanups != 1 || !slices.Equal(f.launched, f.deleted) {
				t.Errorf("cleanups %d, launched %v, deleted %v", f.cleanups, f.launched, f.deleted)
			}
			last := sink.evs[len(sink.evs)-1]
			if last.Type != events.TestEnd || last.Status != events.StatusFailed || *last.Failed != 1 {
				t.Errorf("test_end %+v", last)
			}
		})
	}
}

func TestRunFailureGoesOnToNextConfiguration(t *testing.T) {
	f := newFake()
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		if strings.Contains(i.spec.Name, "-privileged-") && argv[0] == "echo" {
			return ExecResult{ExitStatus: 1}, nil, true
		}
		return ExecResult{}, nil, false
	}
	res, err, sink := testRun(context.Background(), f, testImage(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 || sink.find("nic", "stop").Status != events.StatusOK {
		t.Errorf("result %+v; checks %v", res, sink.checks())
	}
	var ends []string
	for _, e := range sink.evs {
		if e.Type == events.ConfigEnd {
			ends = append(ends, e.Configuration+"="+e.Status)
		}
	}
	if want := []string{"unprivileged=ok", "privileged=failed", "nic=ok"}; !slices.Equal(ends, want) {
		t.Errorf("config ends %v, want %v", ends, want)
	}
}

func TestRunNetworkTimeout(t *testing.T) {
	f := newFake()
	f.addrs = nil
	start := time.Now()
	_, err, sink := testRun(context.Background(), f, testImage(), Options{Configs: []string{"nic"}, Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := sink.find("nic", "network")
	if e.Status != events.StatusFailed || !strings.Contains(e.Detail, "no global IPv4 address") || !strings.Contains(e.Detail, "--timeout") {
		t.Errorf("network check: %+v", e)
	}
	if sink.find("nic", "stop").Status != events.StatusSkipped {
		t.Errorf("stop after a timeout: %+v", sink.find("nic", "stop"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
	if f.cleanups != 1 || len(f.deleted) != 1 {
		t.Errorf("cleanups %d, deleted %v", f.cleanups, f.deleted)
	}
}

func TestRunKeepOnFailure(t *testing.T) {
	f, img := newFake(), testImage()
	img.Metadata.Templates = nil
	res, err, _ := testRun(context.Background(), f, img, Options{KeepOnFailure: true, Configs: []string{"unprivileged", "privileged"}})
	if err != nil {
		t.Fatal(err)
	}
	if f.cleanups != 0 || !f.keptCalled || len(res.Kept) != 1 || len(f.deleted) != 0 {
		t.Errorf("cleanups %d, kept %v, deleted %v", f.cleanups, res.Kept, f.deleted)
	}
	// A run that passes cleans up even with KeepOnFailure.
	f = newFake()
	res, err, _ = testRun(context.Background(), f, testImage(), Options{KeepOnFailure: true, Configs: []string{"unprivileged"}})
	if err != nil || f.cleanups != 1 || len(res.Kept) != 0 || len(f.deleted) != 1 {
		t.Errorf("passing run with keep: err %v, cleanups %d, kept %v", err, f.cleanups, res.Kept)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake()
	launches := 0
	f.onLaunch = func() {
		launches++
		if launches == 2 {
			cancel()
		}
	}
	res, err, sink := testRun(ctx, f, testImage(), Options{KeepOnFailure: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if res.Status != events.StatusInterrupted || f.cleanups != 1 || len(f.launched) != 2 || !slices.Equal(f.launched, f.deleted) {
		t.Errorf("result %+v; launched %v, deleted %v, cleanups %d", res, f.launched, f.deleted, f.cleanups)
	}
	if f.deleteAfterClean {
		t.Error("an instance was deleted after the cleanup")
	}
	last := sink.evs[len(sink.evs)-1]
	if last.Type != events.TestEnd || last.Status != events.StatusInterrupted || last.Error != nil {
		t.Errorf("test_end %+v", last)
	}
	if e := sink.find("privileged", "start"); e.Status != events.StatusInterrupted {
		t.Errorf("start of the interrupted configuration: %+v", e)
	}
}

func TestRunNotSystemd(t *testing.T) {
	other := func(f *fakeBackend) {
		f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
			if argv[0] == "sh" && argv[2] == initProbe {
				return ExecResult{Stdout: "other\n"}, nil, true
			}
			return ExecResult{}, nil, false
		}
	}
	f := newFake()
	other(f)
	f.console = "starting\nudhcpc: started\n"
	_, _, sink := testRun(context.Background(), f, testImage(), Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "running"); e.Status != events.StatusOK || e.Detail != "PID 1 up, console quiet" {
		t.Errorf("quiet console: %+v", e)
	}
	// An empty log is no quiet console: the detail says it was not
	// checked.
	f = newFake()
	other(f)
	f.console = ""
	_, _, sink = testRun(context.Background(), f, testImage(), Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "running"); e.Status != events.StatusOK || e.Detail != "PID 1 up; console not checked: the daemon keeps no console log" {
		t.Errorf("empty console: %+v", e)
	}
	f = newFake()
	other(f)
	f.console = "starting\nmount: can't find /proc in /etc/fstab\nok\n"
	_, _, sink = testRun(context.Background(), f, testImage(), Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "running"); e.Status != events.StatusFailed || !strings.Contains(e.Detail, "the console shows errors:\nmount: can't find /proc") {
		t.Errorf("console with an error: %+v", e)
	}
}

func TestRunTestBlocks(t *testing.T) {
	motd := image.Test{Name: "motd", Script: "#!/bin/sh\ngrep -q builder /etc/motd\n", On: []string{"container"}, Timeout: 60, File: "recipes/x.hcl", Line: 40}
	plain := image.Test{Name: "plain", Script: "test -e /etc/os-release\n", On: []string{"container", "vm"}, Timeout: 60, File: "recipes/x.hcl", Line: 50}
	vmOnly := image.Test{Name: "vmonly", Script: "true\n", On: []string{"vm"}, Timeout: 60}
	f := newFake()
	var ran [][]string
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		if len(argv) == 4 && argv[0] == "/bin/sh" {
			ran = append(ran, argv)
			if strings.HasSuffix(argv[3], "/plain") {
				return ExecResult{Stdout: "line 1\nline 2\nno os-release\n", ExitStatus: 3}, nil, true
			}
			return ExecResult{Stdout: "fine\n"}, nil, true
		}
		return ExecResult{}, nil, false
	}
	res, err, sink := testRun(context.Background(), f, testImage(motd, plain, vmOnly), Options{Configs: []string{"unprivileged"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/properties=ok", "unprivileged/start=ok", "unprivileged/exec=ok", "unprivileged/running=ok",
		"unprivileged/hostname=ok", "unprivileged/test:motd=ok", "unprivileged/test:plain=failed", "unprivileged/stop=skipped"}
	if got := sink.checks(); !slices.Equal(got, want) {
		t.Errorf("checks %v, want %v", got, want)
	}
	if f.pushed["/run/builder-test/motd"] != motd.Script || f.pushed["/run/builder-test/plain"] != plain.Script {
		t.Errorf("pushed %v", f.pushed)
	}
	if len(ran) != 2 || ran[0][2] != runShebang || ran[1][2] != runPlain {
		t.Errorf("ran %q", ran)
	}
	e := sink.find("unprivileged", "test:plain")
	if e.Detail != "exit status 3: no os-release" || e.Error == nil || e.Error.File != "recipes/x.hcl" || e.Error.Line != 50 ||
		*e.Error.ExitStatus != 3 || len(e.Error.Tail) != 3 || e.Error.Command != "/run/builder-test/plain" {
		t.Errorf("failed test block: %+v %+v", e, e.Error)
	}
	var out []string
	for _, e := range sink.evs {
		if e.Type == events.Output {
			out = append(out, e.Configuration+" ["+e.Label+"] "+e.Line)
		}
	}
	if want := []string{"unprivileged [motd] fine", "unprivileged [plain] line 1", "unprivileged [plain] line 2", "unprivileged [plain] no os-release"}; !slices.Equal(out, want) {
		t.Errorf("output %q", out)
	}
	if res.Failures[0].Check != "test:plain" {
		t.Errorf("failures %+v", res.Failures)
	}
}

func TestRunTestBlockTimeout(t *testing.T) {
	slow := image.Test{Name: "slow", Script: "sleep 100\n", On: []string{"container"}, Timeout: 1, File: "r.hcl", Line: 3}
	f := newFake()
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		if argv[0] == "/bin/sh" {
			// As a daemon's exec: it returns when the wait's context ends.
			time.Sleep(1100 * time.Millisecond)
			return ExecResult{}, context.DeadlineExceeded, true
		}
		return ExecResult{}, nil, false
	}
	_, _, sink := testRun(context.Background(), f, testImage(slow), Options{Configs: []string{"unprivileged"}})
	e := sink.find("unprivileged", "test:slow")
	if e.Status != events.StatusFailed || e.Error == nil || !e.Error.TimedOut || !strings.Contains(e.Detail, "timed out after 1s") {
		t.Errorf("timed out block: %+v %+v", e, e.Error)
	}
}

func TestRunCloudInit(t *testing.T) {
	img := testImage()
	img.JSON.Properties["variant"] = "cloud"
	f := newFake()
	_, err, sink := testRun(context.Background(), f, img, Options{Configs: []string{"unprivileged"}})
	if err != nil {
		t.Fatal(err)
	}
	if e := sink.find("unprivileged", "cloud-init"); e.Status != events.StatusOK {
		t.Errorf("cloud-init: %+v", e)
	}
	cfg := f.instanceConfigs[f.launched[0]]
	for _, want := range []string{"#cloud-config\nwrite_files:", "runcmd:", "/var/lib/builder-test/user-data"} {
		if !strings.Contains(cfg["user.user-data"], want) {
			t.Errorf("user-data lacks %q:\n%s", want, cfg["user.user-data"])
		}
	}
	if !strings.HasPrefix(cfg["user.vendor-data"], "#cloud-config\n") || !strings.Contains(cfg["user.vendor-data"], "/var/lib/builder-test/vendor-data") {
		t.Errorf("vendor-data:\n%s", cfg["user.vendor-data"])
	}

	// runcmd did not run.
	f = newFake()
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		if strings.Join(argv, " ") == "cat /var/lib/builder-test/runcmd" {
			return ExecResult{ExitStatus: 1}, nil, true
		}
		return ExecResult{}, nil, false
	}
	_, _, sink = testRun(context.Background(), f, img, Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "cloud-init"); e.Status != events.StatusFailed || e.Detail != "/var/lib/builder-test/runcmd is missing: cloud-init did not apply runcmd" {
		t.Errorf("cloud-init without runcmd: %+v", e)
	}
	// cloud-init ended in error.
	f = newFake()
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		switch strings.Join(argv, " ") {
		case "cloud-init status --wait":
			return ExecResult{Stdout: "status: error\n", ExitStatus: 1}, nil, true
		case "cloud-init status --long":
			return ExecResult{Stdout: "status: error\nerrors:\n\t('write_files', KeyError('x'))\n", ExitStatus: 1}, nil, true
		}
		return ExecResult{}, nil, false
	}
	_, _, sink = testRun(context.Background(), f, img, Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "cloud-init"); e.Status != events.StatusFailed || !strings.Contains(e.Detail, `cloud-init status is "error", not done`) || !strings.Contains(e.Detail, "KeyError") {
		t.Errorf("cloud-init in error: %+v", e)
	}
}

func TestRunSystemdNotOnItsBusYet(t *testing.T) {
	f := newFake()
	asked := 0
	f.exec = func(i *fakeInstance, argv []string) (ExecResult, error, bool) {
		if strings.Join(argv, " ") == "systemctl is-system-running --wait" {
			asked++
			if asked < 3 {
				return ExecResult{Stderr: "Failed to connect to bus: No such file or directory\n", ExitStatus: 1}, nil, true
			}
		}
		return ExecResult{}, nil, false
	}
	_, _, sink := testRun(context.Background(), f, testImage(), Options{Configs: []string{"unprivileged"}})
	if e := sink.find("unprivileged", "running"); e.Status != events.StatusOK || e.Detail != "running" || asked != 3 {
		t.Errorf("running after two bus errors: %+v, asked %d times", e, asked)
	}
}

// An interrupted test whose cleanup failed keeps the error, in test_end
// and in what Run returns: it is all the user learns of what was left.
func TestRunInterruptedCleanupFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFake()
	f.cleanupErr = errors.New("deleting bridge btest123456: busy")
	f.onLaunch = cancel
	_, err, sink := testRun(ctx, f, testImage(), Options{})
	if err == nil || !strings.Contains(err.Error(), "deleting bridge btest123456: busy") {
		t.Errorf("err %v, want the cleanup's", err)
	}
	last := sink.evs[len(sink.evs)-1]
	if last.Type != events.TestEnd || last.Error == nil || !strings.Contains(last.Error.Message, "deleting bridge btest123456: busy") {
		t.Errorf("test_end %+v", last)
	}
}
