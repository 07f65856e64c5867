// Package output turns a finished rootfs into an image's files: the
// output kinds (split.go, unified.go, and vm.go, whose disk
// builder/vmdisk makes), each behind the Kind interface, and Pack, which
// composes one image around a kind: metadata.yaml and templates, the
// kind's files written into a staging directory, the fingerprint,
// SHA256SUMS and image.json, then the staging directory replacing the
// output directory whole.
//
// Start with Pack in pack.go, then kind.go. A new output kind is one file
// implementing Kind plus its entry in the kinds table; the details live
// in builder/image (metadata, fingerprints, image.json) and builder/pack
// (the tar writer, compressors and squashfs).
package output
