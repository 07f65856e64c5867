// Package image owns what LXD and Incus read from an image: architecture
// names, metadata.yaml, templates, fingerprints and image.json.
//
// Where to start:
//   - Architecture (arch.go): every recipe names its architecture in the
//     distribution's spelling (amd64, arm64, …); metadata.yaml needs LXD's
//     canonical name (x86_64, aarch64, …).
//   - Spec and NewMetadata (metadata.go): the image block and templates of
//     a recipe become metadata.yaml. Package recipe imports this package,
//     so the conversion from a recipe.Plan lives in image/fromrecipe.
//   - CheckTemplate (templates.go): parses and test-renders a template the
//     way the daemon will, for a container and a virtual machine.
//     ParseTemplateBody (templaterender.go) is the one template parser,
//     which refuses recursive macros and other unbounded templates
//     (templatelimits.go); the test render is bounded in time and size.
//   - CombinedHasher and Fingerprint (fingerprint.go): the image's
//     fingerprint, as LXD computes it.
//   - ImageJSON, ReadDpkgStatus, WriteSHA256SUMS (imagejson.go, dpkg.go):
//     the files that describe an output directory, written with
//     WriteFileAtomic (atomic.go).
//   - StageOutput and Staging.Commit (outdir.go, outdir_commit.go): a new
//     image is written beside the output directory and replaces it whole
//     in one rename, so the output never holds a mix of two images.
//   - SourceDateEpoch (epoch.go): the one clock of a reproducible build.
package image
