// Package build runs a build: a loaded recipe in, image files (and a
// delivered image) out. Build (build.go) is 'builder build': the output
// check, the reuse of a packed rootfs from the cache (reuse.go), the
// work directory, the rootfs stage, packing and delivery. Rootfs
// (rootfs.go) is its first half, 'builder rootfs'.
//
// The rootfs stage mounts, chroots and runs the recipe's code, so it runs
// in a child process of its own namespaces (see isolation.RunIsolated): the
// child is builder itself, started with StageCommand, and it gets one
// StageRequest on its stdin (child.go), the plan builder loaded
// included, and answers with events on its stdout, which Build passes
// on to its sink.
//
// A build's work directory, and PruneWorkDirs, which removes those of
// killed builds for 'builder cache prune', are in workdir.go. HelperMain
// runs builder's binary as the sandbox helper of a command in the image.
//
// Commands give a Request and an events.Sink, and print the Result; the
// errors say what went wrong, and a RequestError what the caller asked
// for that cannot be done.
package build
