package imagetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// properties compares the image's properties as the backend holds them
// with image.json's: what a user filters images by must be what the
// build said.
func (r *runner) properties(ctx context.Context) (string, error) {
	got, err := r.b.Properties(ctx)
	if err != nil {
		return "", err
	}
	want := r.img.JSON.Properties
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is missing (image.json: %q)", k, want[k]))
		case v != want[k]:
			diffs = append(diffs, fmt.Sprintf("%s is %q, image.json says %q", k, v, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s = %q is not in image.json", k, got[k]))
		}
	}
	if len(diffs) > 0 {
		return "", fmt.Errorf("the %s image's properties differ from image.json: %s", r.b.Name(), strings.Join(diffs, "; "))
	}
	return fmt.Sprintf("%d properties", len(want)), nil
}

// start launches the instance: created, started and running.
func (s *session) start(ctx context.Context) (string, error) {
	spec := LaunchSpec{Config: s.config, Name: s.name}
	if s.r.img.Cloud() {
		spec.InstanceConfig = cloudConfig(s.token)
	}
	s.started = time.Now()
	inst, err := s.r.b.Launch(ctx, spec)
	if inst != nil {
		s.inst = inst
	}
	if err != nil {
		return "", s.withConsole(ctx, err)
	}
	return s.name, nil
}

// run runs argv and fails unless it exits 0; the error carries its
// output.
func (s *session) run(ctx context.Context, argv ...string) (ExecResult, error) {
	res, err := s.inst.Exec(ctx, argv)
	if err != nil {
		return res, fmt.Errorf("running %s: %w", strings.Join(argv, " "), err)
	}
	if res.ExitStatus != 0 {
		return res, fmt.Errorf("%s exited with status %d%s", strings.Join(argv, " "), res.ExitStatus, outputSuffix(res))
	}
	return res, nil
}

// outputSuffix is a command's output for an error message: its last
// lines, or nothing.
func outputSuffix(res ExecResult) string {
	out := strings.TrimSpace(strings.TrimSpace(res.Stdout) + "\n" + strings.TrimSpace(res.Stderr))
	if out == "" {
		return ""
	}
	return ": " + strings.Join(lastLines(out, 5), " | ")
}

// exec runs a command and reads its output back.
func (s *session) exec(ctx context.Context) (string, error) {
	want := "builder-test-" + s.token
	res, err := s.run(ctx, "echo", want)
	if err != nil {
		return "", err
	}
	if got := strings.TrimSpace(res.Stdout); got != want {
		return "", fmt.Errorf("echo %s printed %q", want, got)
	}
	return "", nil
}

// initProbe prints "systemd" when PID 1 is systemd (or the image's
// /sbin/init leads to it).
const initProbe = `if [ -d /run/systemd/system ] || readlink -f /sbin/init 2>/dev/null | grep -q systemd; then echo systemd; else echo other; fi`

// consoleErrors are console lines that say an init script failed.
var consoleErrors = regexp.MustCompile(`(?i)\b(error|failed|can't|cannot|not found)\b`)

// running checks the init system came up: systemd says running, another
// init is still alive after 3 s and printed no error.
func (s *session) running(ctx context.Context) (string, error) {
	res, err := s.run(ctx, "sh", "-c", initProbe)
	if err != nil {
		return "", s.withConsole(ctx, err)
	}
	if strings.TrimSpace(res.Stdout) == "systemd" {
		return s.systemdRunning(ctx)
	}
	if wait := s.r.settle - time.Since(s.started); wait > 0 {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
	if _, err := s.run(ctx, "true"); err != nil {
		return "", s.withConsole(ctx, fmt.Errorf("PID 1 is gone %s after the start: %w", s.r.settle, err))
	}
	console, err := s.inst.Console(ctx)
	if err != nil || strings.TrimSpace(console) == "" {
		// Some daemons keep no console log for containers (LXD 5.0
		// answers 500, others an empty log): what can be checked
		// passed, and the detail says what could not.
		return "PID 1 up; console not checked: the daemon keeps no console log", nil
	}
	var bad []string
	for _, l := range strings.Split(console, "\n") {
		if consoleErrors.MatchString(l) {
			bad = append(bad, strings.TrimSpace(l))
		}
	}
	if len(bad) > 0 {
		return "", fmt.Errorf("the console shows errors:\n%s", strings.Join(lastLines(strings.Join(bad, "\n"), 10), "\n"))
	}
	return "PID 1 up, console quiet", nil
}

// systemdRunning waits for systemd to finish starting and wants
// "running": "degraded" names the failed units.
func (s *session) systemdRunning(ctx context.Context) (string, error) {
	var res ExecResult
	var err error
	for {
		res, err = s.inst.Exec(ctx, []string{"systemctl", "is-system-running", "--wait"})
		// Right after the start systemd may not listen on its bus yet:
		// ask again until it does.
		if err != nil || strings.TrimSpace(res.Stdout) != "" || !strings.Contains(res.Stderr, "Failed to connect to bus") {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("systemd did not answer on its bus: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	state := strings.TrimSpace(res.Stdout)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Ask once more, briefly, what the state was at the end.
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if q, qerr := s.inst.Exec(qctx, []string{"systemctl", "is-system-running"}); qerr == nil {
				return "", fmt.Errorf("systemd is still %q: %w", strings.TrimSpace(q.Stdout), err)
			}
		}
		return "", err
	}
	if state == "running" {
		return state, nil
	}
	detail := state
	if detail == "" {
		detail = fmt.Sprintf("systemctl is-system-running printed nothing (exit status %d)%s", res.ExitStatus, outputSuffix(res))
	}
	failed, ferr := s.inst.Exec(ctx, []string{"systemctl", "--failed", "--no-legend", "--plain"})
	if ferr == nil {
		var units []string
		for _, l := range strings.Split(failed.Stdout, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				units = append(units, strings.TrimPrefix(f[0], "●"))
			}
		}
		if len(units) > 0 {
			detail += "; failed units: " + strings.Join(units, ", ")
		}
	}
	return "", errors.New(detail)
}

// hostname checks the hostname template rendered the instance's name.
func (s *session) hostname(ctx context.Context) (string, error) {
	if _, ok := s.r.img.Metadata.Templates["/etc/hostname"]; !ok {
		return "", errors.New("the image has no template for /etc/hostname")
	}
	res, err := s.run(ctx, "cat", "/etc/hostname")
	if err != nil {
		return "", err
	}
	if got := strings.TrimSpace(res.Stdout); got != s.name {
		return "", fmt.Errorf("/etc/hostname holds %q, not the instance's name %q", got, s.name)
	}
	// The kernel's own record, not the hostname command: minimal
	// images may lack it.
	res, err = s.run(ctx, "cat", "/proc/sys/kernel/hostname")
	if err != nil {
		return "", err
	}
	if got := strings.TrimSpace(res.Stdout); got != s.name {
		return "", fmt.Errorf("the kernel's hostname is %q, not the instance's name %q", got, s.name)
	}
	return s.name, nil
}

// network waits for the NIC's global IPv4 address.
func (s *session) network(ctx context.Context) (string, error) {
	var lastErr error
	for {
		addrs, err := s.inst.Addresses(ctx)
		if err == nil && len(addrs) > 0 {
			return strings.Join(addrs, ", "), nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			err := errors.New("the NIC got no global IPv4 address")
			if lastErr != nil {
				err = fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
			// What the instance itself says of its interfaces.
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if res, qerr := s.inst.Exec(qctx, []string{"ip", "-4", "addr"}); qerr == nil && res.ExitStatus == 0 {
				err = fmt.Errorf("%w; ip -4 addr:\n%s", err, strings.Join(lastLines(res.Stdout, 8), "\n"))
			}
			return "", s.withConsole(ctx, fmt.Errorf("%w: %w", err, ctx.Err()))
		case <-time.After(time.Second):
		}
	}
}

// stop stops the instance cleanly.
func (s *session) stop(ctx context.Context) (string, error) {
	if err := s.inst.Stop(ctx, stopTimeout); err != nil {
		return "", fmt.Errorf("a clean stop did not end within %s: %w", stopTimeout, err)
	}
	return "", nil
}

// withConsole adds the console's last lines to a failure: what init
// said is usually why.
func (s *session) withConsole(ctx context.Context, err error) error {
	if s.inst == nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	console, cerr := s.inst.Console(cctx)
	if cerr != nil || strings.TrimSpace(console) == "" {
		return err
	}
	return fmt.Errorf("%w\nconsole:\n%s", err, strings.Join(lastLines(console, 5), "\n"))
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, "\r "); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
