package recipe

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Checks on single values. Each returns a sentence for the diagnostic's
// detail, or "" when the value is good.

// checkTargetPath accepts absolute, clean paths inside the rootfs.
func checkTargetPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q must be an absolute path inside the image, such as /etc/hostname.", p)
	case containsDotDot(p):
		return fmt.Sprintf("%q must not contain \"..\": paths are resolved inside the image and may not climb out of a directory.", p)
	case path.Clean(p) == "/":
		return fmt.Sprintf("%q names the image's root directory; name a file or directory below it.", p)
	case strings.ContainsRune(p, 0):
		return fmt.Sprintf("%q contains a NUL byte.", p)
	}
	return ""
}

func containsDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// parseMode parses an octal file mode ("0644", "4755").
func parseMode(s string) (uint32, string) {
	if len(s) < 3 || len(s) > 4 {
		return 0, fmt.Sprintf("mode %q must be three or four octal digits, such as \"0644\" or \"4755\".", s)
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Sprintf("mode %q must be three or four octal digits, such as \"0644\" or \"4755\".", s)
	}
	return uint32(m), ""
}

var accountName = regexp.MustCompile(`^([a-z_][a-z0-9_.-]*\$?|[0-9]+)$`)

// checkAccount accepts a user or group name as useradd does, or a
// numeric id that checkID accepts.
func checkAccount(kind, s string) string {
	if len(s) > 32 || !accountName.MatchString(s) {
		return fmt.Sprintf("%s %q must be a user or group name (lowercase letters, digits, _ . -) or a numeric id.", kind, s)
	}
	if strings.Trim(s, "0123456789") == "" {
		return checkID(kind, s)
	}
	return ""
}

// maxID is the largest usable uid or gid: uid_t is 32 bits, and its
// largest value, 4294967295, is (uid_t)-1, which chown reads as "leave
// unchanged".
const maxID = 1<<32 - 2

// checkID accepts a numeric user or group id that chown can set.
func checkID(kind, s string) string {
	if n, err := strconv.ParseUint(s, 10, 64); err != nil || n > maxID {
		return fmt.Sprintf("%s %s is not a valid id: numeric ids go from 0 to %d (%d is (uid_t)-1, which means \"unchanged\" to chown).", kind, s, uint64(maxID), uint64(maxID)+1)
	}
	return ""
}

const maxDuration = 100 * 365 * 24 * time.Hour

var durationPart = regexp.MustCompile(`^([0-9]+)([smhdw])`)

var durationUnits = map[string]time.Duration{
	"s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// parseDuration reads distrobuilder's expiry syntax: one or more parts of
// a whole number and a unit s, m, h, d or w ("30d", "1w 2d", "1h30m").
func parseDuration(s string) (time.Duration, string) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, "a duration must not be empty; write a number and a unit, such as \"30d\", \"12h\" or \"1w\"."
	}
	var total time.Duration
	for rest != "" {
		m := durationPart.FindStringSubmatch(rest)
		if m == nil {
			return 0, fmt.Sprintf("%q is not a duration; write whole numbers with units s, m, h, d or w, such as \"30d\", \"12h\" or \"1w 2d\".", s)
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		unit := durationUnits[m[2]]
		// Each part and the sum are bounded, so no sum can overflow.
		if err != nil || n > int64(maxDuration/unit) || total+time.Duration(n)*unit > maxDuration {
			return 0, fmt.Sprintf("%q is longer than a hundred years.", s)
		}
		total += time.Duration(n) * unit
		rest = strings.TrimLeftFunc(rest[len(m[0]):], unicode.IsSpace)
	}
	if total == 0 {
		return 0, fmt.Sprintf("%q is zero; use a positive duration.", s)
	}
	return total, ""
}

var imageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// checkImageName keeps names usable as file names and LXD aliases.
func checkImageName(s string) string {
	if len(s) > 200 || !imageName.MatchString(s) {
		return fmt.Sprintf("image name %q may hold only letters, digits and . _ + -, starting with a letter or digit, because it names files and LXD aliases.", s)
	}
	return ""
}

var serialPattern = regexp.MustCompile(`^[0-9]{8}(_[0-9]{4})?$`)

// checkSerial keeps serials in the YYYYMMDD[_hhmm] form that simplestreams
// clients require of version keys.
func checkSerial(s string) string {
	if !serialPattern.MatchString(s) {
		return fmt.Sprintf("serial %q must have the form YYYYMMDD or YYYYMMDD_hhmm, which simplestreams clients require.", s)
	}
	if _, err := time.Parse("20060102", s[:8]); err != nil {
		return fmt.Sprintf("serial %q does not start with a valid date.", s)
	}
	return ""
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkEnvName(s string) string {
	if !envName.MatchString(s) {
		return fmt.Sprintf("%q is not a valid environment variable name (letters, digits and _, not starting with a digit).", s)
	}
	return ""
}

// debPackage accepts apt's package arguments: name, name:arch,
// name=version and name/release. Names starting with "-" would be read as
// options, so the first character must be alphanumeric.
var debPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?([=/][A-Za-z0-9.+:~_-]+)?$`)

func checkPackageName(s string) string {
	if !debPackage.MatchString(s) {
		return fmt.Sprintf("%q is not a package name: lowercase letters, digits and + . -, optionally with :arch, =version or /release.", s)
	}
	return ""
}

var fileLabel = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkFileLabel keeps labels that become file names (repository names,
// template names) to one safe path component.
func checkFileLabel(kind, s string) string {
	if len(s) > 100 || !fileLabel.MatchString(s) {
		return fmt.Sprintf("%s %q becomes a file name, so it may hold only letters, digits and . _ -, starting with a letter or digit.", kind, s)
	}
	return ""
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func checkSHA256(s string) string {
	if !sha256Pattern.MatchString(s) {
		return fmt.Sprintf("sha256 %q must be 64 lowercase hexadecimal digits.", s)
	}
	return ""
}

// FormatDuration writes a duration in the recipe syntax parseDuration
// reads, in days, hours, minutes and seconds ("30d", "1d 12h").
func FormatDuration(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, u.unit))
			d -= n * u.size
		}
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, " ")
}
