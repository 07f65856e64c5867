package sbom

import (
	"strconv"
	"strings"
)

// CompareVersions orders two Debian package versions as dpkg does
// (`dpkg --compare-versions`): the epoch numerically, then the upstream
// version and the Debian revision with dpkg's rules, where "~" sorts
// before anything, even the end of the string ("1.0~rc1" < "1.0"), and
// letters before other characters. It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	ea, ua, ra := splitVersion(a)
	eb, ub, rb := splitVersion(b)
	if ea != eb {
		if ea < eb {
			return -1
		}
		return 1
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

// splitVersion splits [epoch:]upstream[-revision]; a missing or bad
// epoch is 0.
func splitVersion(v string) (epoch uint64, upstream, revision string) {
	if e, rest, ok := strings.Cut(v, ":"); ok {
		if n, err := strconv.ParseUint(e, 10, 64); err == nil {
			epoch, v = n, rest
		}
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// order is dpkg's weight of a character in the non-digit parts: "~"
// first, then the end of the part, then letters, then the rest.
func order(c byte, end bool) int {
	switch {
	case end:
		return 0
	case c == '~':
		return -1
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		return int(c)
	default:
		return int(c) + 256
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// verrevcmp is dpkg's: alternate runs of non-digits, compared character
// by character by order, and runs of digits, compared as numbers.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			var ca, cb byte
			ea, eb := i >= len(a) || isDigit(a[i]), j >= len(b) || isDigit(b[j])
			if !ea {
				ca = a[i]
			}
			if !eb {
				cb = b[j]
			}
			if oa, ob := order(ca, ea), order(cb, eb); oa != ob {
				if oa < ob {
					return -1
				}
				return 1
			}
			if !ea {
				i++
			}
			if !eb {
				j++
			}
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		first := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if first == 0 && a[i] != b[j] {
				first = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if first != 0 {
			if first < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}
