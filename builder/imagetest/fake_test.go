package imagetest

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

// fakeBackend behaves as a daemon holding a healthy systemd image whose
// hostname template works; tests change what they break.
type fakeBackend struct {
	// cleanupErr is what Cleanup returns.
	cleanupErr error
	mu         sync.Mutex
	props      map[string]string
	// exec, when set, answers before the healthy defaults; ok false
	// falls through to them.
	exec      func(inst *fakeInstance, argv []string) (res ExecResult, err error, ok bool)
	launchErr error
	stopErr   error
	addrs     []string
	console   string
	// onLaunch runs at the start of each Launch (a test cancels there).
	onLaunch func()

	prepared         bool
	launched         []string
	deleted          []string
	cleanups         int
	instanceConfigs  map[string]map[string]string
	pushed           map[string]string
	keptCalled       bool
	deleteAfterClean bool
}

func newFake() *fakeBackend {
	return &fakeBackend{instanceConfigs: map[string]map[string]string{}, pushed: map[string]string{},
		addrs: []string{"10.0.0.2"}}
}

func (f *fakeBackend) Name() string { return "fake" }

func (f *fakeBackend) Prepare(ctx context.Context, img *Image) error {
	f.prepared = true
	if f.props == nil {
		f.props = img.JSON.Properties
	}
	return nil
}

func (f *fakeBackend) Properties(ctx context.Context) (map[string]string, error) { return f.props, nil }

func (f *fakeBackend) Launch(ctx context.Context, spec LaunchSpec) (Instance, error) {
	if f.onLaunch != nil {
		f.onLaunch()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.launched = append(f.launched, spec.Name)
	f.instanceConfigs[spec.Name] = spec.InstanceConfig
	inst := &fakeInstance{f: f, spec: spec}
	if f.launchErr != nil {
		return inst, f.launchErr
	}
	return inst, ctx.Err()
}

func (f *fakeBackend) Delete(ctx context.Context, inst Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cleanups > 0 {
		f.deleteAfterClean = true
	}
	f.deleted = append(f.deleted, inst.Name())
	return nil
}

func (f *fakeBackend) Cleanup(ctx context.Context) error {
	if ctx.Err() != nil {
		return errors.New("cleanup got a dead context")
	}
	f.cleanups++
	return f.cleanupErr
}

func (f *fakeBackend) Kept() []string {
	f.keptCalled = true
	return []string{"instance X: fake delete X"}
}

type fakeInstance struct {
	f    *fakeBackend
	spec LaunchSpec
}

func (i *fakeInstance) Name() string { return i.spec.Name }

var tokenRe = regexp.MustCompile(`(user-data|runcmd|vendor-data) ([0-9a-f]+)`)

func (i *fakeInstance) Exec(ctx context.Context, argv []string) (ExecResult, error) {
	if err := ctx.Err(); err != nil {
		return ExecResult{}, err
	}
	if i.f.exec != nil {
		if res, err, ok := i.f.exec(i, argv); ok {
			return res, err
		}
	}
	cmd := strings.Join(argv, " ")
	switch {
	case argv[0] == "echo":
		return ExecResult{Stdout: strings.Join(argv[1:], " ") + "\n"}, nil
	case argv[0] == "sh" && argv[2] == initProbe:
		return ExecResult{Stdout: "systemd\n"}, nil
	case cmd == "systemctl is-system-running --wait":
		return ExecResult{Stdout: "running\n"}, nil
	case cmd == "cat /etc/hostname", cmd == "cat /proc/sys/kernel/hostname":
		return ExecResult{Stdout: i.spec.Name + "\n"}, nil
	case cmd == "cloud-init status --wait":
		return ExecResult{Stdout: "status: done\n"}, nil
	case argv[0] == "cat" && strings.HasPrefix(argv[1], cloudDir):
		// What cloud-init would have written from the instance's
		// configuration.
		kind := argv[1][len(cloudDir)+1:]
		cfg := i.f.instanceConfigs[i.spec.Name]
		for _, m := range tokenRe.FindAllStringSubmatch(cfg["user.user-data"]+cfg["user.vendor-data"], -1) {
			if m[1] == kind {
				return ExecResult{Stdout: m[0] + "\n"}, nil
			}
		}
		return ExecResult{ExitStatus: 1, Stderr: "cat: no such file"}, nil
	}
	return ExecResult{}, nil
}

func (i *fakeInstance) PushFile(ctx context.Context, path string, content []byte, mode os.FileMode) error {
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	i.f.pushed[path] = string(content)
	return nil
}

func (i *fakeInstance) Addresses(ctx context.Context) ([]string, error) { return i.f.addrs, nil }
func (i *fakeInstance) Console(ctx context.Context) (string, error)     { return i.f.console, nil }
func (i *fakeInstance) Stop(ctx context.Context, timeout time.Duration) error {
	return i.f.stopErr
}

// testImage is a container image with a hostname template and the given
// test blocks.
func testImage(tests ...image.Test) *Image {
	return &Image{
		Dir: "out/fake",
		JSON: image.ImageJSON{Name: "fake-image", Fingerprint: strings.Repeat("ab", 32), Type: image.TypeUnified,
			Properties: map[string]string{"os": "debian", "release": "bookworm"}},
		Metadata: image.Metadata{Templates: map[string]image.MetadataTemplate{"/etc/hostname": {Template: "hostname.tpl"}}},
		Tests:    tests,
	}
}

type collect struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collect) Emit(e events.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, e)
}

// checks returns "config/check=status" for each check event.
func (c *collect) checks() []string {
	var out []string
	for _, e := range c.evs {
		if e.Type == events.Check {
			out = append(out, e.Configuration+"/"+e.Check+"="+e.Status)
		}
	}
	return out
}

func (c *collect) find(config, check string) events.Event {
	for _, e := range c.evs {
		if e.Type == events.Check && e.Configuration == config && e.Check == check {
			return e
		}
	}
	return events.Event{}
}

func testRun(ctx context.Context, f *fakeBackend, img *Image, opts Options) (Result, error, *collect) {
	sink := &collect{}
	opts.Sink = sink
	res, err := run(ctx, &runner{b: f, img: img, opts: opts, settle: 10 * time.Millisecond})
	return res, err, sink
}
