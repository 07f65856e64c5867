// Package imagetest boots a built image and checks it before it ships:
// `builder test` and `builder build --test`. The runner (Run) is the same
// for every backend; a Backend puts the image somewhere it can boot
// (an LXD or Incus daemon, or qemu for VM images on a host whose daemon
// cannot run VMs) and removes everything it made when the test ends.
//
// Names of configurations and checks are stable: they appear in events,
// in --config and in docs/events.md.
package imagetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

// The configurations, by name.
const (
	ConfigUnprivileged = "unprivileged"
	ConfigPrivileged   = "privileged"
	ConfigNIC          = "nic"
	ConfigVM           = "vm"
	ConfigVMNIC        = "vm-nic"
)

// The built-in checks, by name, in the order they run. A recipe's test
// block runs as the check "test:NAME" between cloud-init and stop.
const (
	CheckProperties = "properties"
	CheckStart      = "start"
	CheckExec       = "exec"
	CheckRunning    = "running"
	CheckHostname   = "hostname"
	CheckNetwork    = "network"
	CheckCloudInit  = "cloud-init"
	CheckStop       = "stop"
	// TestCheckPrefix prefixes a recipe test block's name.
	TestCheckPrefix = "test:"
)

// DefaultTimeout bounds one configuration when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// stopTimeout is how long a clean stop may take before the stop check
// fails: an init that does not shut down in 30 s hangs reboots too.
const stopTimeout = 30 * time.Second

// Configuration is one way of launching the image.
type Configuration struct {
	Name string
	// InstanceType is image.InstanceContainer or image.InstanceVM.
	InstanceType string
	Privileged   bool
	// NIC gives the instance one NIC on a private bridge.
	NIC bool
}

// Configurations are every configuration there is, in the order a test
// runs them.
var configurations = []Configuration{
	{Name: ConfigUnprivileged, InstanceType: image.InstanceContainer},
	{Name: ConfigPrivileged, InstanceType: image.InstanceContainer, Privileged: true},
	{Name: ConfigNIC, InstanceType: image.InstanceContainer, NIC: true},
	{Name: ConfigVM, InstanceType: image.InstanceVM},
	{Name: ConfigVMNIC, InstanceType: image.InstanceVM, NIC: true},
}

// ConfigurationNames lists every configuration's name, for usage
// messages and flag checks.
func ConfigurationNames() []string {
	names := make([]string, len(configurations))
	for i, c := range configurations {
		names[i] = c.Name
	}
	return names
}

// Configurations returns the configurations an image of instanceType
// supports, narrowed to want when want is not empty. It fails for a
// name that is no configuration, and when want leaves none for the
// image.
func Configurations(instanceType string, want []string) ([]Configuration, error) {
	known := ConfigurationNames()
	for _, w := range want {
		if !slices.Contains(known, w) {
			return nil, fmt.Errorf("there is no configuration %q (there are %s)", w, strings.Join(known, ", "))
		}
	}
	var supported, out []Configuration
	for _, c := range configurations {
		if c.InstanceType != instanceType {
			continue
		}
		supported = append(supported, c)
		if len(want) == 0 || slices.Contains(want, c.Name) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		names := make([]string, len(supported))
		for i, c := range supported {
			names[i] = c.Name
		}
		return nil, fmt.Errorf("a %s image runs in the configurations %s, and none of them was asked for (%s)",
			instanceType, strings.Join(names, ", "), strings.Join(want, ", "))
	}
	return out, nil
}

// ExecResult is what a command run in an instance did.
type ExecResult struct {
	Stdout, Stderr string
	ExitStatus     int
}

// Instance is a launched instance of the image.
type Instance interface {
	Name() string
	// Exec runs argv as root and returns its output when it ends; ctx
	// bounds the wait.
	Exec(ctx context.Context, argv []string) (ExecResult, error)
	// PushFile writes a file owned by root.
	PushFile(ctx context.Context, path string, content []byte, mode os.FileMode) error
	// Addresses are the global IPv4 addresses of the instance's NIC.
	Addresses(ctx context.Context) ([]string, error)
	// Console is the console log so far, best effort: "" when the
	// backend has none.
	Console(ctx context.Context) (string, error)
	// Stop stops the instance cleanly (not forced) and fails when it
	// has not stopped within timeout.
	Stop(ctx context.Context, timeout time.Duration) error
}

// LaunchSpec is what to launch.
type LaunchSpec struct {
	Config Configuration
	// Name is the instance's name: a valid hostname.
	Name string
	// InstanceConfig is instance configuration to set (user.user-data,
	// user.vendor-data).
	InstanceConfig map[string]string
}

// Backend is where images boot.
type Backend interface {
	// Name is "lxd", "incus" or "qemu".
	Name() string
	// Prepare imports or sets up the image, recording everything it
	// creates for Cleanup.
	Prepare(ctx context.Context, img *Image) error
	// Properties are the image's properties as the backend sees them.
	Properties(ctx context.Context) (map[string]string, error)
	// Launch creates and starts an instance. What it created is
	// recorded before it can fail, so Cleanup removes it even when
	// Launch returns an error.
	Launch(ctx context.Context, spec LaunchSpec) (Instance, error)
	// Delete removes one instance, stopping it first if it runs.
	Delete(ctx context.Context, inst Instance) error
	// Cleanup removes everything the backend created; it is
	// idempotent.
	Cleanup(ctx context.Context) error
	// Kept lists what remains after a run whose Cleanup was not called
	// (--keep-on-failure), each entry with how to remove it.
	Kept() []string
}

// Options tune a run.
type Options struct {
	// Timeout bounds each configuration, from launch to stop;
	// DefaultTimeout when zero.
	Timeout time.Duration
	// Configs narrows the configurations; empty means all the image
	// supports.
	Configs []string
	// KeepOnFailure leaves the instances of failed configurations and
	// everything they need in place for a look; Result.Kept says what.
	KeepOnFailure bool
	Sink          events.Sink
}

// Result is how a test went.
type Result struct {
	Image       string
	Dir         string
	Fingerprint string
	Backend     string
	// Status is events.StatusOK, StatusFailed or StatusInterrupted.
	Status   string
	Passed   int
	Failed   int
	Failures []CheckFailure
	// Kept is what --keep-on-failure left, each with how to remove it.
	Kept     []string
	Duration time.Duration
}

// CheckFailure is one failed check.
type CheckFailure struct {
	Configuration string
	Check         string
	Detail        string
}

func (f CheckFailure) String() string {
	where := f.Check
	if f.Configuration != "" {
		where = f.Configuration + ": " + f.Check
	}
	return where + ": " + f.Detail
}
