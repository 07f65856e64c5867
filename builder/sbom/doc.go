// Package sbom writes an image's software bill of materials: one SPDX 2.3
// JSON document (sbom.spdx.json) beside image.json, and its CycloneDX
// form for `builder sbom --format cyclonedx-json`.
//
// Where to start:
//   - ReadFacts (facts.go): what the document needs from the rootfs
//     besides image.json's packages — the distribution (os-release) and
//     each package's licences from its machine-readable copyright file
//     (dep5.go, license.go) — read through os.Root, since the image is
//     not trusted. The stage cache keeps the Facts with a packed rootfs
//     file, so a build that reuses that file writes the same document.
//   - SPDX (spdx.go): the document, a pure function of image.json and
//     the Facts: the same bytes for the same image.
//   - CycloneDX (cyclonedx.go): the SPDX document converted.
//   - Diff (diff.go) and CompareVersions (version.go): what changed
//     between two images' packages, in Debian's version order.
package sbom
