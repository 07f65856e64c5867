package recipe

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/isolation"
)

// Limits holds the `limits` block: how large the build's scratch
// file systems may grow and what a tarball may expand to. Every field
// is set in a Plan: attributes left out take DefaultLimits.
type Limits struct {
	// Tmp, Run and Shm are the sizes, in bytes, of the tmpfs the build's
	// commands get as /tmp, /run and /dev/shm. Without a size a tmpfs
	// may take half the host's memory, each.
	Tmp, Run, Shm int64
	// Tarball is the most a tarball bootstrap's archive (or a cached
	// stage restored from the cache) may expand to, in bytes: the sum
	// of its files' sizes, holes of sparse files included, and 512 bytes
	// per entry. A few kilobytes of xz can hold terabytes of zeros.
	Tarball int64
	// Range is the block's; zero without one.
	Range hcl.Range
}

// DefaultLimits are the limits of a recipe without a limits block: the
// tmpfs sizes of isolation.DefaultTmpfsSizes and the archive bound of
// confined.DefaultMaxExtract, which own them.
func DefaultLimits() Limits {
	t := isolation.DefaultTmpfsSizes()
	return Limits{Tmp: t.Tmp, Run: t.Run, Shm: t.Shm, Tarball: confined.DefaultMaxExtract}
}

// TmpfsSizes are the sizes of the tmpfs mounts these limits set.
func (l Limits) TmpfsSizes() isolation.TmpfsSizes {
	return isolation.TmpfsSizes{Tmp: l.Tmp, Run: l.Run, Shm: l.Shm}
}

// minLimit is the smallest size a limit may be: a tmpfs of size 0 has
// no limit at all, and a smaller /run or /tmp breaks the package
// manager.
const minLimit = 1 << 20

func decodeLimits(block *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) Limits {
	l := DefaultLimits()
	if block == nil {
		return l
	}
	l.Range = block.DefRange()
	d := decodeAttrs(block, ctx, diags, blockSchemas["limits"].attrs...)
	for _, a := range []struct {
		name string
		dst  *int64
	}{{"tmp_size", &l.Tmp}, {"run_size", &l.Run}, {"shm_size", &l.Shm}, {"tarball_size", &l.Tarball}} {
		if n, ok := d.size(a.name); ok {
			*a.dst = n
		}
	}
	return l
}

// size reads a byte count: a string with a binary unit ("512MiB",
// "2G", "64GiB"; K, M, G and T are powers of 1024 with or without "iB",
// as tmpfs and GNU tools read them) or a whole number of bytes.
func (d *attrDecoder) size(name string) (int64, bool) {
	v, ok := d.eval(name)
	if !ok {
		return 0, false
	}
	var text string
	switch v.Type() {
	case cty.String:
		text = v.AsString()
	case cty.Number:
		text = v.AsBigFloat().Text('f', -1)
	default:
		d.errorf(name, "Invalid size", "%s is a size such as \"512MiB\" or \"4GiB\", not a %s.", name, v.Type().FriendlyName())
		return 0, false
	}
	n, err := parseSize(text)
	if err != nil {
		d.errorf(name, "Invalid size", "%s: %s.", name, err)
		return 0, false
	}
	if n < minLimit {
		d.errorf(name, "Invalid size", "%s is %d bytes; it must be at least 1MiB.", name, n)
		return 0, false
	}
	return n, true
}

// sizeUnits are the binary multiples a size may end with.
var sizeUnits = map[string]int64{"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

// parseSize reads "64GiB", "1.5G", "512MiB", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size such as \"512MiB\" or \"4GiB\"", s)
	}
	key := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(unit), "B"), "I")
	mult, ok := sizeUnits[key]
	if !ok || strings.EqualFold(unit, "iB") || strings.EqualFold(unit, "i") {
		return 0, fmt.Errorf("%q has no unit builder knows; use K, M, G or T (binary: KiB, MiB, GiB, TiB)", s)
	}
	bytes := v * float64(mult)
	if bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is more than 8 EiB", s)
	}
	return int64(bytes), nil
}
