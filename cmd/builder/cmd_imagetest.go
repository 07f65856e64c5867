package main

// The `builder test` command. (Not cmd_test.go: Go would take a file of
// that name for a test file and leave the command out of the binary.)

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/lxd"
)

// testOptions are the flags of `builder test` that say where and how an
// image is tested; `build --test` shares them (see testFlags).
type testOptions struct {
	daemon     string
	remote     string
	clientCert string
	clientKey  string
	serverCert string
	project    string
	network    string
	configs    []string
	timeout    time.Duration
	keep       bool
}

// addFlags adds the flags that are the test's own; prefix ("test-" for
// build) keeps them apart from a command's flags of the same name.
func (o *testOptions) addFlags(fs *pflag.FlagSet, prefix string) {
	fs.StringVar(&o.network, prefix+"network", "", "bridge for the nic configurations (default: a bridge without NAT made for the test and deleted after)")
	fs.StringSliceVar(&o.configs, prefix+"config", nil, "test only these configurations: "+strings.Join(imagetest.ConfigurationNames(), ", ")+" (default: every one the image supports)")
	fs.DurationVar(&o.timeout, prefix+"timeout", imagetest.DefaultTimeout, "time each configuration may take, from launch to stop")
	fs.BoolVar(&o.keep, prefix+"keep-on-failure", false, "leave a failed configuration's instance and what it needs, and print how to remove them")
}

// check reports flag values that cannot work, as usage errors.
func (o *testOptions) check() error {
	if o.daemon != "" && o.daemon != string(lxd.LXD) && o.daemon != string(lxd.Incus) {
		return usageError{fmt.Errorf("--daemon must be lxd or incus, not %q", o.daemon)}
	}
	if o.timeout <= 0 {
		return usageError{fmt.Errorf("the timeout must be positive, not %s", o.timeout)}
	}
	known := imagetest.ConfigurationNames()
	for _, c := range o.configs {
		if !slices.Contains(known, c) {
			return usageError{fmt.Errorf("there is no configuration %q (there are %s)", c, strings.Join(known, ", "))}
		}
	}
	return nil
}

func (a *app) newTestCommand() *cobra.Command {
	opts := &testOptions{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test OUTDIR...",
		Short: "Boot built images in LXD/Incus (or qemu) and check them",
		Long: `Test boots the image of each output directory and checks it before it
ships. The image is imported into a throwaway project (with --project,
into that project under a temporary alias), launched in every
configuration it supports and checked; everything the test created is
removed after, also on failure, timeout and Ctrl-C, unless
--keep-on-failure.

Configurations: containers unprivileged, privileged, and nic (a NIC on a
private bridge); VM images vm and vm-nic, through the daemon when it runs
VMs, else booted directly under qemu.

Checks: properties (the daemon's equal image.json's), start, exec,
running (systemd is-system-running says running; other inits stay up
with a quiet console), hostname (the template rendered the instance's
name), network (nic configurations get an address), cloud-init (cloud
images apply user-data and vendor-data), each recipe test block
(test:NAME), and a clean stop within 30 s.

Exit status: 0 every check passed, 1 a check failed, 2 usage, 130
interrupted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runTestCommand(cmd.Context(), opts, asJSON, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.daemon, "daemon", "", "lxd or incus (default: the first whose socket answers, LXD first; for --remote, the client configuration to read)")
	fs.StringVar(&opts.remote, "remote", "", "test on a daemon over HTTPS: https://HOST[:PORT] or a remote named in the lxc/incus client configuration")
	fs.StringVar(&opts.clientCert, "client-cert", "", "client certificate for --remote (default: the lxc or incus client's own)")
	fs.StringVar(&opts.clientKey, "client-key", "", "client key for --remote (default: the lxc or incus client's own)")
	fs.StringVar(&opts.serverCert, "server-cert", "", "the certificate --remote must present (default: the one the client pinned for a named remote, else system trust)")
	fs.StringVar(&opts.project, "project", "", "test in this existing project, under a temporary alias (default: a throwaway project)")
	opts.addFlags(fs, "")
	fs.BoolVar(&asJSON, "json", false, "print the test as NDJSON events on stdout (docs/events.md)")
	return cmd
}

func (a *app) runTestCommand(ctx context.Context, opts *testOptions, asJSON bool, dirs []string) error {
	if err := opts.check(); err != nil {
		return err
	}
	rep := a.newReporter(reportMode{json: asJSON})
	results, err := a.runTests(ctx, opts, dirs, rep)
	rep.close()
	if !asJSON {
		writeTestSummary(a.stdout, results)
	}
	return testOutcome(ctx, results, err)
}

// testOutcome is the exit of a test run: interrupted (130), a failure
// to run (1, the error), a failed check (1, reported already), or 0.
func testOutcome(ctx context.Context, results []imagetest.Result, err error) error {
	if ctx.Err() != nil {
		if err == nil {
			err = ctx.Err()
		}
		// err also says what cleanup could not remove, if anything.
		return fmt.Errorf("test interrupted: %w", err)
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Status != events.StatusOK {
			return &exitError{code: exitFailure, silent: true}
		}
	}
	return nil
}

// runTests tests each output directory in turn, reporting to rep. An
// image that cannot be tested (no image.json, the daemon refused it) is
// reported and the next one tested; no daemon to connect to, or ctx
// ending, stops the run. A failed check is in the results, not an error.
func (a *app) runTests(ctx context.Context, opts *testOptions, dirs []string, rep *reporter) ([]imagetest.Result, error) {
	var results []imagetest.Result
	var errs []error
	conn := &testConnection{a: a, opts: opts, log: rep.logOut, allVMs: true}
	if rep.quiet {
		conn.log = a.stderr
	}
	// Asking for what an image cannot run is the command line's fault,
	// not the image's: said before anything is created.
	for _, dir := range dirs {
		img, err := imagetest.LoadImage(dir)
		if err != nil {
			conn.allVMs = false
			continue
		}
		if img.InstanceType() != image.InstanceVM {
			conn.allVMs = false
		}
		if _, err := imagetest.Configurations(img.InstanceType(), opts.configs); err != nil {
			return nil, usageError{fmt.Errorf("--config for %s: %w", dir, err)}
		}
	}
	for _, dir := range dirs {
		if ctx.Err() != nil {
			break
		}
		img, err := imagetest.LoadImage(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("testing %s: %w", dir, err))
			results = append(results, imagetest.Result{Image: dir, Dir: dir, Status: events.StatusFailed})
			continue
		}
		b, err := conn.backend(ctx, img)
		if err != nil {
			return results, errors.Join(append(errs, err)...)
		}
		res, err := imagetest.Run(ctx, b, img, imagetest.Options{
			Timeout: opts.timeout, Configs: opts.configs, KeepOnFailure: opts.keep, Sink: rep,
		})
		results = append(results, res)
		if len(res.Kept) > 0 {
			// What is left must be told even to a quiet build.
			out := rep.logOut
			if rep.quiet {
				out = a.stderr
			}
			fmt.Fprintf(out, "builder: --keep-on-failure kept what the test of %s made; remove it with:\n", dir)
			for _, k := range res.Kept {
				fmt.Fprintf(out, "  %s\n", k)
			}
		}
		if err != nil {
			// Interrupted too: the error says what cleanup could not
			// remove.
			errs = append(errs, err)
		}
	}
	return results, errors.Join(errs...)
}

// testConnection connects to the daemon once, when the first image that
// needs it comes.
type testConnection struct {
	a      *app
	opts   *testOptions
	log    io.Writer
	client *lxd.Client
	vms    bool
	// allVMs is set when every image is a VM image: those need no
	// daemon, qemu boots them when none answers.
	allVMs   bool
	noDaemon bool
}

// backend picks where img boots: the daemon, or qemu for a VM image
// when the daemon cannot run VMs.
func (t *testConnection) backend(ctx context.Context, img *imagetest.Image) (imagetest.Backend, error) {
	if t.client == nil && !t.noDaemon {
		d := &deliver.Daemon{Daemon: t.opts.daemon, Remote: t.opts.remote, ClientCert: t.opts.clientCert,
			ClientKey: t.opts.clientKey, ServerCert: t.opts.serverCert, LookupEnv: environLookup(t.a.environ)}
		client, err := d.Connect(ctx)
		var settings *deliver.SettingsError
		if errors.As(err, &settings) {
			return nil, usageError{err}
		}
		if err != nil && t.allVMs && ctx.Err() == nil {
			fmt.Fprintf(t.log, "builder: no daemon to test in (%v): the VM images boot under qemu\n", err)
			t.noDaemon = true
			return t.qemu(), nil
		}
		if err != nil {
			return nil, err
		}
		vms, err := imagetest.CanRunVMs(ctx, client)
		if err != nil {
			return nil, fmt.Errorf("asking %s whether it runs VMs: %w", client.Where, err)
		}
		// When every image boots under qemu, the daemon's projects and
		// networks do not matter.
		if !t.allVMs || vms {
			if err := t.checkTargets(ctx, client); err != nil {
				return nil, err
			}
		}
		t.client, t.vms = client, vms
	}
	if img.InstanceType() == image.InstanceVM && (t.noDaemon || !t.vms) {
		return t.qemu(), nil
	}
	project := t.opts.project
	if project == "" && t.client.Project != "" && t.client.Project != "default" {
		// A remote or socket that works in one project (incus-user's
		// user-UID) may not create projects: test in that one.
		project = t.client.Project
	}
	return imagetest.NewDaemonBackend(t.client, t.client.Daemon,
		imagetest.DaemonOptions{Project: project, Network: t.opts.network}), nil
}

// qemu is the backend of a VM image the daemon cannot run, warning
// that the flags naming a place in the daemon do not apply to it.
func (t *testConnection) qemu() imagetest.Backend {
	var ignored []string
	for flag, v := range map[string]string{"--remote": t.opts.remote, "--project": t.opts.project, "--network": t.opts.network} {
		if v != "" {
			ignored = append(ignored, flag)
		}
	}
	if len(ignored) > 0 {
		slices.Sort(ignored)
		fmt.Fprintf(t.log, "builder: warning: a VM image tested under qemu ignores %s: they name places in a daemon\n", strings.Join(ignored, ", "))
	}
	return newQemuBackend()
}

// checkTargets refuses, before anything is created, a --project or
// --network the daemon does not have: a misspelt name is the command
// line's fault, not the image's.
func (t *testConnection) checkTargets(ctx context.Context, client *lxd.Client) error {
	if p := t.opts.project; p != "" {
		projects, err := client.WithProject("").Projects(ctx)
		if err != nil {
			return fmt.Errorf("listing the projects of %s: %w", client.Where, err)
		}
		if !slices.Contains(projects, p) {
			return usageError{fmt.Errorf("--project %s: %s has no such project (it has %s); builder test creates a throwaway project when --project is not given", p, client.Where, strings.Join(projects, ", "))}
		}
	}
	if n := t.opts.network; n != "" {
		networks, err := client.WithProject("").Networks(ctx)
		if err != nil {
			return fmt.Errorf("listing the networks of %s: %w", client.Where, err)
		}
		if !slices.Contains(networks, n) {
			return usageError{fmt.Errorf("--network %s: %s has no such network; builder test creates a bridge when --network is not given", n, client.Where)}
		}
	}
	return nil
}

// writeTestSummary says how each image did, the failures named with
// their configuration, check and what was seen.
func writeTestSummary(w io.Writer, results []imagetest.Result) {
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	failed := 0
	for _, r := range results {
		if r.Status != events.StatusOK {
			failed++
		}
	}
	if len(results) > 1 {
		fmt.Fprintf(&b, "==> tested %d images: %d passed, %d failed\n", len(results), len(results)-failed, failed)
	}
	for _, r := range results {
		switch r.Status {
		case events.StatusOK:
			fmt.Fprintf(&b, "PASSED  %s (%s, %d checks on %s) in %s\n", r.Image, r.Dir, r.Passed, r.Backend, r.Duration.Round(100*time.Millisecond))
		case events.StatusFailed:
			if r.Failed == 0 {
				// Not a check: the image could not be tested (the error
				// follows on stderr).
				fmt.Fprintf(&b, "FAILED  %s (%s): could not be tested\n", r.Image, r.Dir)
				continue
			}
			fmt.Fprintf(&b, "FAILED  %s (%s on %s): %d of %d checks failed\n", r.Image, r.Dir, r.Backend, r.Failed, r.Passed+r.Failed)
			for _, f := range r.Failures {
				lines := strings.Split(f.String(), "\n")
				for i, l := range lines {
					// The detail is what the guest printed: escaped.
					lines[i] = events.Printable(l)
				}
				fmt.Fprintf(&b, "  %s\n", strings.Join(lines, "\n    "))
			}
		default:
			fmt.Fprintf(&b, "%s  %s (%s on %s)\n", strings.ToUpper(r.Status), r.Image, r.Dir, r.Backend)
		}
	}
	_, _ = io.WriteString(w, b.String())
}
