package main

import (
	"context"
	"errors"

	"github.com/builder-images/builder/builder/imagetest"
)

// newQemuBackend boots VM images where the daemon cannot.
func newQemuBackend() imagetest.Backend { return noQemu{} }

// noQemu stands in until the qemu backend lands.
type noQemu struct{}

func (noQemu) Name() string { return "qemu" }
func (noQemu) Prepare(context.Context, *imagetest.Image) error {
	return errors.New("the daemon cannot run VMs, and this builder has no qemu backend")
}
func (noQemu) Properties(context.Context) (map[string]string, error) { return nil, nil }
func (noQemu) Launch(context.Context, imagetest.LaunchSpec) (imagetest.Instance, error) {
	return nil, errors.New("no qemu backend")
}
func (noQemu) Delete(context.Context, imagetest.Instance) error { return nil }
func (noQemu) Cleanup(context.Context) error                    { return nil }
func (noQemu) Kept() []string                                   { return nil }
