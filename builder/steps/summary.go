package steps

import "strings"

// nonEmpty lists s, or nothing when it is "".
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// joinParts joins a summary's parts with spaces.
func joinParts(parts []string) string { return strings.Join(parts, " ") }
