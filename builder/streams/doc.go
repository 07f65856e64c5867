// Package streams publishes images into simplestreams trees, the format
// LXD and Incus read from image-server remotes, keeps those trees (list,
// remove, prune, verify) and serves them over HTTPS.
//
// Where to start:
//   - Tree.Publish (publish.go) adds output directories (image.json and
//     the files it lists) to a tree.
//   - Products and friends (types.go) are streams/v1/images.json; Store
//     (store.go) is where a tree lives: a directory (store_dir.go) or an
//     S3 prefix (store_s3.go).
//   - Tree.Images, Remove, Prune (tree.go) and Verify (verify.go) keep a
//     tree; Handler (serve.go) serves one.
//
// # Layout
//
//	streams/v1/index.json   one "images" entry listing the products
//	streams/v1/images.json  the products
//	images/SHA256.EXT       every file, named by its sha256
//
// A signed tree (Tree.Signer) adds index.sjson and images.sjson
// (clearsigned), index.json.gpg and images.json.gpg (detached) and each
// version's images/SHA256.SHA256SUMS with its .gpg: see signed.go.
//
// A product is os:release:variant:arch (arch is LXD's canonical name,
// which clients resolve with osarch) with aliases os/release/variant and
// the recipe's own; its versions are image serials (YYYYMMDD_hhmm). A
// version holds a container image, a VM image or one of each (version.go).
// A split container image has lxd.tar.xz and incus.tar.xz items for the
// metadata file, both carrying the combined hash clients take as the
// fingerprint, and a squashfs or root.tar.xz item for the rootfs; a
// unified one has lxd_combined.tar.gz and incus_combined.tar.gz items. A
// VM image is always split: the metadata items, carrying
// combined_disk-kvm-img_sha256, and a disk-kvm.img item for the qcow2
// (LXD takes every unified stream item for a container's, so a unified
// VM image is refused). A container and a VM image in one version share
// the metadata items, which then carry both combined hashes, as the
// public image servers' versions do; their metadata tarballs must
// therefore be the same file, or the second is refused. Each stack
// reads only its own ftypes, so both are written, pointing at one file.
// Ftypes name a role and not a compression: daemons detect compression
// from the bytes, so a gzip or zstd metadata file is still lxd.tar.xz,
// while the file's name in images/ says what its bytes are. Each version
// also carries a "builder" object for its container image and a
// "builder_vm" one for its VM image (fingerprint, type, properties,
// aliases, creation and expiry) that clients ignore and tree list and
// prune read.
//
// # Concurrency
//
// Files are uploaded before anything is locked: content-addressed names
// make a second upload of the same bytes harmless. Index rewrites then
// happen under the tree's lock, which also covers checking that the
// version's files are still there and deleting files no version refers
// to any more, so that one publisher's cleanup never deletes what another
// just referenced.
//
// A directory tree is locked with flock(2) on .builder-lock in its root:
// the kernel releases it when the holder dies, so there are no stale
// locks, and index files are replaced by writing a temporary file,
// fsyncing and renaming it. flock does not work across NFS clients; use
// one machine per tree directory.
//
// S3 has neither locks nor renames, but it has conditional writes. The
// lock is the object .builder-lock, created with If-None-Match: * so that
// of two publishers exactly one succeeds. It records its owner and an
// expiry two minutes ahead, renewed while held; a publisher that finds
// an expired lock takes it over with If-Match on that lock's ETag, so
// again only one succeeds. As a second line of defence images.json is
// written with If-Match on the ETag it was read with: a publisher that
// lost its lock without noticing fails instead of overwriting another's
// index. The server must support conditional PUTs (AWS S3 and most
// S3-compatible servers do).
//
// # Serving
//
// Handler serves the tree's files (never directories, names starting
// with ".", or anything outside the tree) and answers LXD's URL import
// (lxc image import https://HOST/1.0/images/NAME): a HEAD or GET of
// /1.0/images/NAME, where NAME is a product alias (os/release/variant or
// a recipe alias), an alias followed by /ARCH, a product key,
// PRODUCT:VERSION or a fingerprint prefix of at least 12 digits, answers
// with LXD-Image-Hash and LXD-Image-URL (and the Incus- twins) for the
// newest unified image of that name whose architecture is in the
// request's LXD-Server-Architectures (or Incus-Server-Architectures)
// header, preferring the daemon's first architecture. The image URL is
// below the handler's public URL, never the request's Host.
//
// Serve (server.go) runs a Handler over HTTPS with its clients bounded:
// a connection cap, a read deadline, a deadline on each write of a
// response (a stalled reader is dropped, a slow one served), and an
// idle timeout.
package streams
