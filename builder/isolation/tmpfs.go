package isolation

import "fmt"

// TmpfsSizes are the sizes, in bytes, of the tmpfs mounts a build's
// commands write to: /tmp, /run and /dev/shm (see the recipe's limits
// block). A tmpfs without a size may take half the host's memory, and
// each of them would; a zero field takes DefaultTmpfsSizes' size.
type TmpfsSizes struct {
	Tmp int64 `json:"tmp"`
	Run int64 `json:"run"`
	Shm int64 `json:"shm"`
}

// DefaultTmpfsSizes are the sizes of a recipe without a limits block
// (see recipe.DefaultLimits): a /tmp large enough for a compiler's
// temporary files, a /run and /dev/shm of the sizes Docker gives
// containers (64 MiB).
func DefaultTmpfsSizes() TmpfsSizes {
	return TmpfsSizes{Tmp: 1 << 30, Run: 64 << 20, Shm: 64 << 20}
}

// WithDefaults fills the zero sizes from DefaultTmpfsSizes.
func (s TmpfsSizes) WithDefaults() TmpfsSizes {
	d := DefaultTmpfsSizes()
	if s.Tmp <= 0 {
		s.Tmp = d.Tmp
	}
	if s.Run <= 0 {
		s.Run = d.Run
	}
	if s.Shm <= 0 {
		s.Shm = d.Shm
	}
	return s
}

// sizedTmpfs adds a size to a tmpfs's mount data. Inodes are bounded
// too, one per KiB: an empty file takes no block but an inode of kernel
// memory, and by default a tmpfs allows half the host's memory pages of
// them.
func sizedTmpfs(data string, size int64) string {
	return fmt.Sprintf("%s,size=%d,nr_inodes=%d", data, size, max(size>>10, 1024))
}
