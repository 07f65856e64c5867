//go:build !linux

package xz

// bt4HugePages is a Linux madvise hint; elsewhere there is nothing to do.
func bt4HugePages([]uint32) {}
