package imagetest

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

// Where the cloud-init check's user-data and vendor-data leave their
// marks in the instance.
const (
	cloudDir        = "/var/lib/builder-test"
	cloudUserData   = cloudDir + "/user-data"
	cloudRuncmd     = cloudDir + "/runcmd"
	cloudVendorData = cloudDir + "/vendor-data"
)

// cloudConfig is the instance configuration of a cloud image's
// instances. user-data writes a file (write_files) and runs a command
// (runcmd); vendor-data uses bootcmd, since cloud-init merges the two
// and user-data's write_files would replace vendor-data's.
func cloudConfig(token string) map[string]string {
	user := fmt.Sprintf(`#cloud-config
write_files:
  - path: %s
    content: "user-data %s\n"
runcmd:
  - [sh, -c, "mkdir -p %s && echo 'runcmd %s' > %s"]
`, cloudUserData, token, cloudDir, token, cloudRuncmd)
	vendor := fmt.Sprintf(`#cloud-config
bootcmd:
  - [sh, -c, "mkdir -p %s && echo 'vendor-data %s' > %s"]
`, cloudDir, token, cloudVendorData)
	return map[string]string{"user.user-data": user, "user.vendor-data": vendor}
}

// cloudInit waits for cloud-init and checks it applied user-data and
// vendor-data.
func (s *session) cloudInit(ctx context.Context) (string, error) {
	res, err := s.inst.Exec(ctx, []string{"cloud-init", "status", "--wait"})
	if err != nil {
		return "", fmt.Errorf("running cloud-init status --wait: %w", err)
	}
	status := ""
	for _, l := range strings.Split(res.Stdout, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "status:"); ok {
			status = strings.TrimSpace(v)
		}
	}
	if status != "done" {
		detail, _ := s.inst.Exec(ctx, []string{"cloud-init", "status", "--long"})
		return "", fmt.Errorf("cloud-init status is %q, not done (exit status %d)%s", status, res.ExitStatus, outputSuffix(detail))
	}
	for _, f := range []struct{ path, want string }{
		{cloudUserData, "user-data " + s.token},
		{cloudRuncmd, "runcmd " + s.token},
		{cloudVendorData, "vendor-data " + s.token},
	} {
		got, err := s.inst.Exec(ctx, []string{"cat", f.path})
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f.path, err)
		}
		if got.ExitStatus != 0 {
			return "", fmt.Errorf("%s is missing: cloud-init did not apply %s", f.path, path.Base(f.path))
		}
		if strings.TrimSpace(got.Stdout) != f.want {
			return "", fmt.Errorf("%s holds %q, not %q", f.path, strings.TrimSpace(got.Stdout), f.want)
		}
	}
	return "status: done; user-data, runcmd and vendor-data applied", nil
}

// testDir is where test blocks' scripts are pushed: /run is a tmpfs on
// every init, so nothing of the test outlives the instance's boot.
const testDir = "/run/builder-test"

// tailLines is how many output lines a failed test block reports, as a
// failed run step does.
const tailLines = 20

// How a pushed script is run (its path is $0). Never executed directly:
// a VM's /run is mounted noexec (by the initramfs), so a script with #!
// runs under the interpreter its first line names, as the kernel would
// start it (the line split on blanks, not globbed).
const (
	runPlain   = `exec /bin/sh "$0" 2>&1`
	runShebang = `IFS= read -r line < "$0"; set -f; set -- ${line#??} "$0"; exec "$@" 2>&1`
)

// testBlock pushes a recipe test block's script into the instance and
// runs it; its output becomes output events labelled with its name.
func (s *session) testBlock(ctx context.Context, t image.Test) (string, error) {
	if _, err := s.run(ctx, "mkdir", "-p", testDir); err != nil {
		return "", err
	}
	file := path.Join(testDir, strings.ReplaceAll(t.Name, "/", "_"))
	if err := s.inst.PushFile(ctx, file, []byte(t.Script), 0o700); err != nil {
		return "", fmt.Errorf("pushing the script to %s: %w", file, err)
	}
	// One stream, in the order the script printed it: stderr joins
	// stdout in the instance. A script without #! runs under /bin/sh,
	// as a run block's does.
	run := runPlain
	if strings.HasPrefix(t.Script, "#!") {
		run = runShebang
	}
	timeout := time.Duration(t.Timeout) * time.Second
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.inst.Exec(tctx, []string{"/bin/sh", "-c", run, file})
	out := strings.TrimRight(res.Stdout+res.Stderr, "\n")
	if out != "" {
		for _, l := range strings.Split(out, "\n") {
			s.r.emit(events.Event{Type: events.Output, Configuration: s.config.Name, Label: t.Name, Line: l})
		}
	}
	f := &events.Failure{File: t.File, Line: t.Line, Command: file, Tail: lastLines(out, tailLines)}
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded):
		status := -1
		f.ExitStatus, f.TimedOut = &status, true
		f.Message = fmt.Sprintf("test %q timed out after %s", t.Name, timeout)
		return "", &checkError{detail: f.Message, failure: f}
	case err != nil:
		return "", fmt.Errorf("running test %q: %w", t.Name, err)
	case res.ExitStatus != 0:
		status := res.ExitStatus
		f.ExitStatus = &status
		f.Message = fmt.Sprintf("test %q exited with status %d", t.Name, status)
		// The output is in the output events and the failure's tail;
		// the detail names the status and the last line, which is
		// usually why.
		detail := fmt.Sprintf("exit status %d", status)
		if len(f.Tail) > 0 {
			detail += ": " + f.Tail[len(f.Tail)-1]
		}
		return "", &checkError{detail: detail, failure: f}
	}
	return "", nil
}
