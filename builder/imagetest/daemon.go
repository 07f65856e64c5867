package imagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
)

// DaemonOptions say where in the daemon a test goes.
type DaemonOptions struct {
	// Project, when set, is an existing project to test in, under a
	// temporary alias; empty means a throwaway project.
	Project string
	// Network, when set, is the bridge NIC configurations use; empty
	// means a bridge the test creates and deletes.
	Network string
}

// DaemonBackend boots images on an LXD or Incus daemon.
type DaemonBackend struct {
	// base talks to the daemon outside the test's project: networks
	// and storage pools live there.
	base   *lxd.Client
	daemon lxd.Daemon
	opts   DaemonOptions

	mu sync.Mutex
	// c works in the test's project, once Prepare chose it.
	c           *lxd.Client
	fingerprint string
	pool        string
	// What the test created, for Cleanup and Kept.
	project  string // throwaway project, "" when none was created
	alias    string // temporary alias in opts.Project
	uploaded bool   // this run's upload stored the image in opts.Project
	// uploading is an upload into opts.Project whose outcome is unknown
	// (interrupted): the daemon may still store the image after.
	uploading bool
	network   string // bridge created for NIC configurations
	instances []string
}

// NewDaemonBackend returns a backend on the daemon client talks to.
func NewDaemonBackend(client *lxd.Client, daemon lxd.Daemon, opts DaemonOptions) *DaemonBackend {
	return &DaemonBackend{base: client.WithProject(""), daemon: daemon, opts: opts}
}

func (d *DaemonBackend) Name() string { return string(d.daemon) }

// cli is the daemon's command-line client, for what Kept prints.
func (d *DaemonBackend) cli() string {
	if d.daemon == lxd.Incus {
		return "incus"
	}
	return "lxc"
}

// CanRunVMs asks the daemon whether it runs virtual machines: its
// drivers include qemu.
func CanRunVMs(ctx context.Context, c *lxd.Client) (bool, error) {
	drivers, err := c.Drivers(ctx)
	if err != nil {
		return false, err
	}
	return strings.Contains(drivers, "qemu"), nil
}

// Prepare makes the project (or picks the given one) and imports the
// image into it.
func (d *DaemonBackend) Prepare(ctx context.Context, img *Image) error {
	pool, err := d.base.DefaultRootPool(ctx)
	if err != nil {
		return fmt.Errorf("finding the storage pool for instances: %w", err)
	}
	d.mu.Lock()
	d.pool, d.fingerprint = pool, img.JSON.Fingerprint
	d.mu.Unlock()

	var aliases []string
	if d.opts.Project == "" {
		name := "builder-test-" + token(4)
		// Recorded before it exists: an interrupted create may still
		// have made it, and deleting a missing project is no error.
		d.mu.Lock()
		d.project = name
		d.c = d.base.WithProject(name)
		d.mu.Unlock()
		err := d.base.CreateProject(ctx, name, "builder test "+img.Dir+": removed when the test ends",
			map[string]string{"features.images": "true", "features.profiles": "true"})
		if err != nil {
			return fmt.Errorf("creating the test project %s: %w", name, err)
		}
	} else {
		c := d.base.WithProject(d.opts.Project)
		_, err := c.Image(ctx, img.JSON.Fingerprint)
		missing := lxd.IsNotFound(err)
		if err != nil && !missing {
			return fmt.Errorf("looking for the image in project %s: %w", d.opts.Project, err)
		}
		alias := "builder-test-" + token(4)
		d.mu.Lock()
		// An image already there is the user's: only the upload's own
		// result (below) makes it ours, and until it is known an
		// interrupted upload may still store it.
		d.c, d.alias, d.uploading = c, alias, missing
		d.mu.Unlock()
		aliases = []string{alias}
	}
	res, err := lxd.Import(ctx, d.c, lxd.ImportOptions{Dir: img.Dir, Image: img.JSON, Aliases: aliases})
	if d.opts.Project != "" {
		d.mu.Lock()
		d.uploaded = res.Uploaded
		if err == nil || ctx.Err() == nil || res.Uploaded {
			d.uploading = false
		}
		d.mu.Unlock()
	}
	return err
}

// Properties are the daemon's record of the image's properties.
func (d *DaemonBackend) Properties(ctx context.Context) (map[string]string, error) {
	got, err := d.c.Image(ctx, d.fingerprint)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", image.Short(d.fingerprint), err)
	}
	return got.Properties, nil
}

// Launch creates and starts an instance with no profile: its root disk
// and NIC are given explicitly, so nothing of the daemon's default
// profile decides what is tested.
func (d *DaemonBackend) Launch(ctx context.Context, spec LaunchSpec) (Instance, error) {
	devices := map[string]map[string]string{
		"root": {"type": "disk", "path": "/", "pool": d.pool},
	}
	if spec.Config.NIC {
		bridge, err := d.bridge(ctx)
		if err != nil {
			return nil, err
		}
		devices["eth0"] = map[string]string{"type": "nic", "nictype": "bridged", "parent": bridge, "name": "eth0"}
	}
	config := map[string]string{}
	for k, v := range spec.InstanceConfig {
		config[k] = v
	}
	if spec.Config.Privileged {
		config["security.privileged"] = "true"
	}
	d.mu.Lock()
	d.instances = append(d.instances, spec.Name)
	d.mu.Unlock()
	inst := &daemonInstance{c: d.c, name: spec.Name}
	err := d.c.CreateInstance(ctx, lxd.InstanceSpec{Name: spec.Name, Type: spec.Config.InstanceType,
		Fingerprint: d.fingerprint, Config: config, Devices: devices})
	if err != nil {
		if ctx.Err() == nil {
			// The daemon refused it: there is nothing to remove or keep
			// (an interrupted create may still make it, so that one stays
			// listed).
			d.forget(spec.Name)
		}
		return nil, fmt.Errorf("creating %s: %w", spec.Name, err)
	}
	if err := d.c.SetInstanceState(ctx, spec.Name, "start", 0, false); err != nil {
		return inst, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	st, err := d.c.InstanceState(ctx, spec.Name)
	if err != nil {
		return inst, fmt.Errorf("reading the state of %s: %w", spec.Name, err)
	}
	if st.Status != "Running" {
		return inst, fmt.Errorf("%s is %s right after its start", spec.Name, st.Status)
	}
	return inst, nil
}

// bridge returns the bridge for NIC configurations, creating it on
// first use.
func (d *DaemonBackend) bridge(ctx context.Context) (string, error) {
	if d.opts.Network != "" {
		return d.opts.Network, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.network != "" {
		return d.network, nil
	}
	taken, err := hostNetworks()
	if err != nil {
		return "", err
	}
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var tried []*net.IPNet
	// Another test, or a network the host cannot see (a remote
	// daemon's), may hold the subnet picked: try a few.
	for attempt := 0; ; attempt++ {
		subnet, err := pickSubnet(taken, tried, rnd)
		if err != nil {
			return "", err
		}
		name := bridgeName()
		d.network = name
		err = d.base.CreateNetwork(ctx, name, bridgeConfig(subnet))
		if err == nil {
			return name, nil
		}
		if ctx.Err() != nil {
			// An interrupted create may still have made it: Cleanup
			// tries it.
			return "", fmt.Errorf("creating the test bridge %s on %s: %w", name, subnet, err)
		}
		// Nothing was made; forget the name so Cleanup and Kept do not
		// name it.
		d.network = ""
		if attempt == 4 {
			return "", fmt.Errorf("creating the test bridge %s on %s: %w", name, subnet, err)
		}
		tried = append(tried, subnet)
	}
}

// Delete deletes one instance, forcibly: the stop check has already
// stopped it if it got that far.
func (d *DaemonBackend) Delete(ctx context.Context, inst Instance) error {
	if err := deleteInstance(ctx, d.c, inst.Name()); err != nil {
		return fmt.Errorf("deleting %s: %w", inst.Name(), err)
	}
	d.forget(inst.Name())
	return nil
}

// forget drops an instance from what the test must remove.
func (d *DaemonBackend) forget(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.instances = slices.DeleteFunc(d.instances, func(n string) bool { return n == name })
}

// Cleanup removes what the test created, in the order the daemon needs:
// instances, then the image, then the project and the bridge. It goes
// on after an error, so one failure leaves as little as possible, and
// tries again until ctx ends: an operation an interrupted test started
// (an instance's create) may still be running and hold the project.
func (d *DaemonBackend) Cleanup(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		err := d.cleanupOnce(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *DaemonBackend) cleanupOnce(ctx context.Context) error {
	var errs []error
	if d.c != nil {
		var left []string
		for _, name := range d.instances {
			if err := deleteInstance(ctx, d.c, name); err != nil {
				errs = append(errs, fmt.Errorf("deleting instance %s: %w", name, err))
				left = append(left, name)
			}
		}
		d.instances = left
	}
	if d.project != "" {
		errs = append(errs, d.deleteProject(ctx))
	}
	if d.alias != "" {
		err := d.c.DeleteAlias(ctx, d.alias)
		if err != nil && !lxd.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting alias %s: %w", d.alias, err))
		} else {
			d.alias = ""
		}
	}
	if d.uploading {
		d.awaitUpload(ctx)
	}
	if d.uploaded {
		if err := d.deleteUploaded(ctx); err != nil {
			errs = append(errs, err)
		} else {
			d.uploaded = false
		}
	}
	if d.network != "" {
		if err := d.base.DeleteNetwork(ctx, d.network); err != nil && !lxd.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %w", d.network, err))
		} else {
			d.network = ""
		}
	}
	return errors.Join(errs...)
}

// deleteProject empties the throwaway project (whatever is in it is the
// test's, including what an interrupted call left unrecorded) and
// deletes it.
func (d *DaemonBackend) deleteProject(ctx context.Context) error {
	c := d.base.WithProject(d.project)
	var errs []error
	names, err := c.Instances(ctx)
	if err != nil && !lxd.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("listing instances of project %s: %w", d.project, err))
	}
	for _, name := range names {
		if err := deleteInstance(ctx, c, name); err != nil {
			errs = append(errs, fmt.Errorf("deleting instance %s: %w", name, err))
		}
	}
	fps, err := c.Images(ctx)
	if err != nil && !lxd.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("listing images of project %s: %w", d.project, err))
	}
	for _, fp := range fps {
		if err := c.DeleteImage(ctx, fp); err != nil && !lxd.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting image %s: %w", image.Short(fp), err))
		}
	}
	if len(errs) == 0 {
		if err := d.base.DeleteProject(ctx, d.project); err != nil {
			errs = append(errs, fmt.Errorf("deleting project %s: %w", d.project, err))
		} else {
			d.project = ""
		}
	}
	return errors.Join(errs...)
}

// deleteInstance deletes an instance, waiting while the daemon says it
// is busy: an interrupted test may leave its create or start operation
// running, and the daemon refuses the delete until it ends.
func deleteInstance(ctx context.Context, c *lxd.Client, name string) error {
	for {
		err := c.DeleteInstance(ctx, name)
		if err == nil || !strings.Contains(err.Error(), "busy") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// Kept lists what is left when Cleanup is not called, each with the
// command that removes it, in the order they must run.
func (d *DaemonBackend) Kept() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	cli := d.cli()
	project := d.project
	if project == "" {
		project = d.opts.Project
	}
	var kept []string
	for _, name := range d.instances {
		kept = append(kept, fmt.Sprintf("instance %s: %s delete --force --project %s %s", name, cli, project, name))
	}
	switch {
	case d.project != "":
		kept = append(kept,
			fmt.Sprintf("image %s: %s image delete --project %s %s", image.Short(d.fingerprint), cli, project, d.fingerprint),
			fmt.Sprintf("project %s: %s project delete %s", project, cli, project))
	case d.uploaded, d.uploading:
		kept = append(kept, fmt.Sprintf("image %s: %s image delete --project %s %s", image.Short(d.fingerprint), cli, project, d.fingerprint))
	case d.alias != "":
		kept = append(kept, fmt.Sprintf("alias %s: %s image alias delete --project %s %s", d.alias, cli, project, d.alias))
	}
	if d.network != "" {
		kept = append(kept, fmt.Sprintf("bridge %s: %s network delete %s", d.network, cli, d.network))
	}
	return kept
}

// daemonInstance is an instance on the daemon.
type daemonInstance struct {
	c    *lxd.Client
	name string
}

func (i *daemonInstance) Name() string { return i.name }

// execEnv is the environment of commands run in the instance: the
// daemons pass none of their own, and systemctl, cloud-init and recipe
// scripts expect a usual PATH and HOME.
var execEnv = map[string]string{
	"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME": "/root",
}

func (i *daemonInstance) Exec(ctx context.Context, argv []string) (ExecResult, error) {
	res, err := i.c.Exec(ctx, i.name, argv, execEnv)
	return ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitStatus: res.ExitStatus}, err
}

func (i *daemonInstance) PushFile(ctx context.Context, path string, content []byte, mode os.FileMode) error {
	return i.c.PushFile(ctx, i.name, path, content, mode)
}

// Addresses are the global IPv4 addresses of every interface but lo: a
// container's eth0, a VM's enp5s0.
func (i *daemonInstance) Addresses(ctx context.Context) ([]string, error) {
	st, err := i.c.InstanceState(ctx, i.name)
	if err != nil {
		return nil, err
	}
	var out []string
	for iface, addrs := range st.Addresses {
		if iface == "lo" {
			continue
		}
		for _, a := range addrs {
			if a.Family == "inet" && a.Scope == "global" {
				out = append(out, a.Address)
			}
		}
	}
	return out, nil
}

func (i *daemonInstance) Console(ctx context.Context) (string, error) {
	return i.c.ConsoleLog(ctx, i.name)
}

// Stop asks for a clean stop and checks the instance is stopped.
func (i *daemonInstance) Stop(ctx context.Context, timeout time.Duration) error {
	if err := i.c.SetInstanceState(ctx, i.name, "stop", timeout, false); err != nil {
		return err
	}
	st, err := i.c.InstanceState(ctx, i.name)
	if err != nil {
		return err
	}
	if st.Status != "Stopped" {
		return fmt.Errorf("%s is %s", i.name, st.Status)
	}
	return nil
}
