package image

import (
	"fmt"
	"strings"
	"unicode"
)

// maxAliasLength is Incus's limit; LXD accepts longer names, but an alias
// both daemons take is one a recipe can be moved between them with.
const maxAliasLength = 64

// CheckAlias applies the stricter of LXD's and Incus's rules for image
// alias names: at most 64 characters, no white space, none of
// $ ? & + " ' ` *, starting and ending with a letter or digit; "/" is
// allowed (os/release/variant). The error completes "alias X …".
func CheckAlias(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is empty")
	case len(name) > maxAliasLength:
		return fmt.Errorf("is longer than %d characters", maxAliasLength)
	case strings.IndexFunc(name, unicode.IsSpace) >= 0:
		return fmt.Errorf("contains white space")
	case strings.ContainsAny(name, "$?&+\"'`*"):
		return fmt.Errorf("contains one of $ ? & + \" ' ` *, which LXD and Incus refuse")
	case !isAlnum(rune(name[0])) || !isAlnum(rune(name[len(name)-1])):
		return fmt.Errorf("must start and end with a letter or digit")
	}
	return nil
}

func isAlnum(r rune) bool {
	return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}
