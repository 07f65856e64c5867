// Package image owns what LXD and Incus read from an image: architecture
// names, metadata.yaml, templates, fingerprints and image.json.
//
// Where to start:
//   - Architecture (arch.go): every recipe names its architecture in the
//     distribution's spelling (amd64, arm64, …); metadata.yaml needs LXD's
//     canonical name (x86_64, aarch64, …).
//   - Spec and NewMetadata (metadata.go): the image block and templates of
//     a recipe (recipe.Plan.ImageSpec) become metadata.yaml;
//     Spec.CheckTemplates test-renders the templates (package template)
//     for a container and a virtual machine of this very image.
//   - CombinedHasher and Fingerprint (fingerprint.go): the image's
//     fingerprint, as LXD computes it.
//   - ImageJSON, ReadDpkgStatus, WriteSHA256SUMS (imagejson.go, dpkg.go):
//     the files that describe an output directory, written with
//     WriteFileAtomic (atomic.go); Test (test.go) is a recipe's test
//     block as image.json records it for `builder test`.
//   - StageOutput and Staging.Commit (outdir.go, outdir_commit.go): a new
//     image is written beside the output directory and replaces it whole
//     in one rename, so the output never holds a mix of two images.
//   - SourceDateEpoch (epoch.go): the one clock of a reproducible build.
package image
