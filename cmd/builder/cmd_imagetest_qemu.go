package main

import (
	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/imagetest/qemu"
)

// newQemuBackend boots VM images where the daemon cannot: under qemu,
// with this very program as the guest's agent (see main).
func newQemuBackend() imagetest.Backend { return qemu.New(qemu.Options{}) }
