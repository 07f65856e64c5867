// Package builder composes the stages of an image build: the rootfs
// stage (package builder/stage) builds a tree, Pack turns a tree into LXD/Incus
// image files with metadata.yaml, templates, fingerprint and image.json.
//
// Start with Pack in pack.go; the packages it drives own the details:
// builder/image (metadata, templates, fingerprints, image.json) and
// builder/pack (the tar writer, compressors and squashfs).
package builder
