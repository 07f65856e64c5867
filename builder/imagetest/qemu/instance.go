package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/vmagent"
	"github.com/builder-images/builder/builder/vmrun"
)

// instance is one VM under qemu.
type instance struct {
	name  string
	dir   string          // the instance's files: config drive, the VM's directory
	vm    *vmrun.VM       // nil until qemu started
	agent *vmagent.Client // nil until connected
	watch *agentWatch

	removeOnce sync.Once
	removeErr  error
}

func (i *instance) Name() string { return i.name }

// Exec runs argv through the agent, waiting for the agent to come up
// within ctx: the first answer is the exec check's "the agent answers".
func (i *instance) Exec(ctx context.Context, argv []string) (imagetest.ExecResult, error) {
	var res vmagent.ExecResult
	err := i.watch.call(ctx, func(ctx context.Context) (err error) {
		res, err = i.agent.Exec(ctx, argv, nil)
		return err
	})
	if err != nil {
		return imagetest.ExecResult{}, i.explain(err)
	}
	return imagetest.ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitStatus: res.ExitStatus}, nil
}

func (i *instance) PushFile(ctx context.Context, path string, content []byte, mode os.FileMode) error {
	err := i.watch.call(ctx, func(ctx context.Context) error {
		return i.agent.Push(ctx, path, content, uint32(mode.Perm()))
	})
	if err != nil {
		return i.explain(err)
	}
	return nil
}

// Addresses are the guest's global IPv4 addresses, as `ip` lists them:
// the NIC's, the one interface with any.
func (i *instance) Addresses(ctx context.Context) ([]string, error) {
	res, err := i.Exec(ctx, []string{"ip", "-4", "-o", "addr", "show", "scope", "global"})
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return nil, fmt.Errorf("ip -4 addr: exit status %d: %s", res.ExitStatus, strings.TrimSpace(res.Stderr))
	}
	return parseAddresses(res.Stdout), nil
}

// parseAddresses reads `ip -4 -o addr` lines ("2: enp5s0    inet
// 10.0.2.15/24 brd … scope global dynamic enp5s0 …").
func parseAddresses(out string) []string {
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for k := 0; k+1 < len(f); k++ {
			if f[k] == "inet" {
				addr, _, _ := strings.Cut(f[k+1], "/")
				addrs = append(addrs, addr)
				break
			}
		}
	}
	return addrs
}

// Console is the serial console so far.
func (i *instance) Console(ctx context.Context) (string, error) {
	if i.vm == nil {
		return "", nil
	}
	return i.vm.Console(), nil
}

// Stop asks the guest to power off, through the agent or, if it does
// not answer, the ACPI power button, and waits for qemu to exit.
func (i *instance) Stop(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-i.vm.Done():
		return nil
	default:
	}
	askCtx, cancelAsk := context.WithTimeout(ctx, min(10*time.Second, timeout/2))
	err := i.agent.Poweroff(askCtx)
	cancelAsk()
	if err != nil {
		if perr := i.vm.Powerdown(ctx); perr != nil {
			return fmt.Errorf("asking the guest to power off: the agent: %v; the ACPI power button: %w", err, perr)
		}
	}
	select {
	case <-i.vm.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the VM still runs %v after it was asked to power off", timeout)
	}
}

// explain adds what qemu said when the VM is gone.
func (i *instance) explain(err error) error {
	select {
	case <-i.vm.Done():
		return fmt.Errorf("%w (qemu exited: %v %s)", err, i.vm.Err(), strings.TrimSpace(i.vm.Stderr()))
	default:
		return err
	}
}

// remove kills the VM and removes the instance's files; once.
func (i *instance) remove() error {
	i.removeOnce.Do(func() {
		var errs []error
		if i.agent != nil {
			_ = i.agent.Close() // the VM's end goes with it
		}
		if i.vm != nil {
			errs = append(errs, i.vm.Close())
		}
		if err := os.RemoveAll(i.dir); err != nil {
			errs = append(errs, fmt.Errorf("qemu backend: %w", err))
		}
		i.removeErr = errors.Join(errs...)
	})
	return i.removeErr
}
