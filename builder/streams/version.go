package streams

import (
	"fmt"
	"sort"

	"github.com/builder-images/builder/builder/image"
)

// A version holds at most two images, a container's and a VM's, as the
// public image servers' versions do. Clients pair every metadata item
// with every data item and take the fingerprint from the metadata
// item's combined field named for the data's ftype, so a container and
// a VM image whose metadata tarballs are the same file share one pair of
// metadata items, which then carries both combined hashes.
//
// builder keeps one metadata file per version: a split container image
// and a VM image whose metadata tarballs differ (other templates, other
// properties, another compression) are refused in one version rather
// than listed as two metadata items, which no image server writes and
// no client is tested against. A unified container image has no
// metadata item, so it goes beside any VM image.

// versionImage is one image of a version.
type versionImage struct {
	// instance is image.InstanceContainer or image.InstanceVM.
	instance string
	// meta is the metadata file (under the LXD ftype, no combined
	// fields) and data the rootfs or disk; for a unified image meta is
	// the one file (lxd_combined) and data is nil.
	meta, data *Item
	// info is builder's record of the image; nil in versions other
	// tools wrote.
	info *VersionInfo
}

// fingerprint is the image's fingerprint as clients derive it.
func (vi versionImage) fingerprint() string {
	if vi.data == nil {
		return vi.meta.SHA256
	}
	if vi.info != nil && vi.info.Fingerprint != "" {
		return vi.info.Fingerprint
	}
	return ""
}

// combinedFields names the metadata item's fields that carry the
// fingerprint of an image whose data item has ftype, with their values
// on it.
func combinedFields(it *Item, ftype string) map[string]*string {
	switch ftype {
	case FtypeSquashfs:
		return map[string]*string{"combined_squashfs_sha256": &it.CombinedSquashfsSHA256}
	case FtypeRootTar:
		return map[string]*string{"combined_rootxz_sha256": &it.CombinedRootxzSHA256, "combined_sha256": &it.CombinedSHA256}
	case FtypeDiskKVM:
		return map[string]*string{"combined_disk-kvm-img_sha256": &it.CombinedDiskKVMSHA256}
	}
	return nil
}

// bare is a copy of it without the combined fields: the file alone.
func bare(it *Item) *Item {
	return &Item{Ftype: it.Ftype, Path: it.Path, SHA256: it.SHA256, Size: it.Size}
}

// images returns the version's images, the container's first, read from
// the LXD ftypes. A version with neither is an error.
func (v *Version) images() ([]versionImage, error) {
	var out []versionImage
	meta := v.Items[FtypeLXDMeta]
	if it := v.Items[FtypeLXDCombined]; it != nil {
		out = append(out, versionImage{instance: image.InstanceContainer, meta: bare(it), info: v.Builder})
	} else if meta != nil {
		for _, ft := range []string{FtypeSquashfs, FtypeRootTar} {
			if it := v.Items[ft]; it != nil {
				vi := versionImage{instance: image.InstanceContainer, meta: bare(meta), data: bare(it), info: v.Builder}
				if vi.info == nil || vi.info.Fingerprint == "" {
					vi.info = &VersionInfo{Fingerprint: clientFingerprint(meta, ft)}
				}
				out = append(out, vi)
				break
			}
		}
	}
	if it := v.Items[FtypeDiskKVM]; it != nil && meta != nil {
		vi := versionImage{instance: image.InstanceVM, meta: bare(meta), data: bare(it), info: v.BuilderVM}
		if vi.info == nil || vi.info.Fingerprint == "" {
			vi.info = &VersionInfo{Fingerprint: clientFingerprint(meta, FtypeDiskKVM)}
		}
		out = append(out, vi)
	}
	if len(out) == 0 {
		if meta == nil {
			return nil, fmt.Errorf("neither %s nor %s item", FtypeLXDCombined, FtypeLXDMeta)
		}
		return nil, fmt.Errorf("a %s item but no %s, %s or %s item", FtypeLXDMeta, FtypeSquashfs, FtypeRootTar, FtypeDiskKVM)
	}
	return out, nil
}

// clientFingerprint is what clients take as the fingerprint of the pair
// meta and a data item of ftype.
func clientFingerprint(meta *Item, ftype string) string {
	switch ftype {
	case FtypeSquashfs:
		return meta.CombinedSquashfsSHA256
	case FtypeRootTar:
		if meta.CombinedRootxzSHA256 != "" {
			return meta.CombinedRootxzSHA256
		}
		return meta.CombinedSHA256
	case FtypeDiskKVM:
		return meta.CombinedDiskKVMSHA256
	}
	return ""
}

// image returns the version's image of an instance type, or false.
func (v *Version) image(instance string) (versionImage, bool) {
	imgs, _ := v.images()
	for _, vi := range imgs {
		if vi.instance == instance {
			return vi, true
		}
	}
	return versionImage{}, false
}

// composeVersion builds a version from its images, at most one of each
// instance type: both stacks' ftypes for every file, the combined hash
// of each split image on the metadata items. Split images must share
// their metadata file (see above).
func composeVersion(imgs []versionImage, pubName string) (*Version, error) {
	sort.SliceStable(imgs, func(i, j int) bool {
		return imgs[i].instance == image.InstanceContainer && imgs[j].instance != image.InstanceContainer
	})
	v := &Version{Items: map[string]*Item{}, PubName: pubName}
	var sharedMeta *versionImage
	for i, vi := range imgs {
		if i > 0 && imgs[i-1].instance == vi.instance {
			return nil, fmt.Errorf("two %s images in one version", vi.instance)
		}
		switch vi.instance {
		case image.InstanceVM:
			v.BuilderVM = vi.info
		default:
			v.Builder = vi.info
		}
		if vi.data == nil {
			for _, ft := range []string{FtypeLXDCombined, FtypeIncusCombined} {
				it := bare(vi.meta)
				it.Ftype = ft
				v.Items[ft] = it
			}
			continue
		}
		if sharedMeta != nil && (sharedMeta.meta.Path != vi.meta.Path || sharedMeta.meta.SHA256 != vi.meta.SHA256) {
			return nil, &MetadataMismatchError{Container: sharedMeta.meta.SHA256, VM: vi.meta.SHA256}
		}
		if sharedMeta == nil {
			sharedMeta = &imgs[i]
			for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
				it := bare(vi.meta)
				it.Ftype = ft
				v.Items[ft] = it
			}
		}
		fp := vi.fingerprint()
		for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
			for _, field := range combinedFields(v.Items[ft], vi.data.Ftype) {
				*field = fp
			}
		}
		v.Items[vi.data.Ftype] = bare(vi.data)
	}
	if v.PubName == "" {
		for _, vi := range imgs {
			if vi.info != nil && vi.info.Name != "" {
				v.PubName = vi.info.Name
				break
			}
		}
	}
	return v, nil
}

// MetadataMismatchError is a container and a VM image of one version
// whose metadata tarballs differ: a version has one metadata file.
type MetadataMismatchError struct {
	// Container and VM are the two metadata files' sha256.
	Container, VM string
}

func (e *MetadataMismatchError) Error() string {
	return fmt.Sprintf("the container image's metadata tarball (sha256 %s) and the VM image's (sha256 %s) differ, and a version has one metadata file that both images' fingerprints are computed with; build both outputs with the same compression, templates and properties (a template can test instance.type when it renders), or publish the VM image under another serial or variant",
		image.Short(e.Container), image.Short(e.VM))
}
