package image

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SourceDateEpochVar is the environment variable reproducible builds
// agree on (reproducible-builds.org/specs/source-date-epoch).
const SourceDateEpochVar = "SOURCE_DATE_EPOCH"

// maxEpoch is 9999-12-31T23:59:59Z: the serial and simplestreams version
// keys start with a four-digit year.
const maxEpoch = 253402300799

// SourceDateEpoch returns the build's time: flag (--source-date-epoch)
// when it is not empty, else SOURCE_DATE_EPOCH from environ (the last
// one when it is repeated, as os/exec does). It gives creation_date, the
// serial and the mtime clamp.
//
// A zero Time with a nil error means neither is set: the caller then uses
// the current time, and the build is not reproducible. A value that is
// set must be whole seconds in decimal, as `date +%s` prints them; an
// empty, signed, fractional or out-of-range value is an error, not the
// current time, so a CI job whose `git log` failed does not silently
// produce a different image. 0 is refused too: LXD reads creation_date 0
// as missing.
func SourceDateEpoch(environ []string, flag string) (time.Time, error) {
	origin, text, set := "--source-date-epoch", flag, flag != ""
	if !set {
		origin = SourceDateEpochVar
		for _, kv := range environ {
			if name, val, ok := strings.Cut(kv, "="); ok && name == SourceDateEpochVar {
				text, set = val, true
			}
		}
	}
	if !set {
		return time.Time{}, nil
	}
	sec, err := parseEpoch(text)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: %w", origin, text, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

func parseEpoch(text string) (int64, error) {
	if text == "" {
		return 0, errors.New("empty; unset it to build with the current time")
	}
	if strings.Trim(text, "0123456789") != "" {
		return 0, errors.New("not a whole number of seconds since 1970-01-01 UTC (what `date +%s` prints)")
	}
	sec, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("out of range: %w", err)
	}
	switch {
	case sec == 0:
		return 0, errors.New("1970-01-01T00:00:00Z is the one time LXD cannot take: it reads creation_date 0 as missing")
	case sec > maxEpoch:
		return 0, errors.New("after the year 9999")
	}
	return sec, nil
}
