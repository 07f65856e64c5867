package recipe

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "1w": 7 * 24 * time.Hour,
		"1w 2d": 9 * 24 * time.Hour, "1h30m": 90 * time.Minute, " 45s ": 45 * time.Second,
		"36500d": 36500 * 24 * time.Hour,
	}
	for in, want := range good {
		got, msg := parseDuration(in)
		if msg != "" || got != want {
			t.Errorf("parseDuration(%q) = %v, %q; want %v", in, got, msg, want)
		}
		if back, _ := parseDuration(FormatDuration(got)); back != got {
			t.Errorf("FormatDuration(%v) = %q does not parse back", got, FormatDuration(got))
		}
	}
	bad := map[string]string{
		"":                      "must not be empty",
		"30":                    "is not a duration",
		"30x":                   "is not a duration",
		"1.5d":                  "is not a duration",
		"0d":                    "is zero",
		"36501d":                "longer than a hundred years",
		"36500d 36500d 36500d":  "longer than a hundred years",
		"99999999999999999999d": "longer than a hundred years",
	}
	for in, want := range bad {
		if _, msg := parseDuration(in); !strings.Contains(msg, want) {
			t.Errorf("parseDuration(%q) message %q, want it to contain %q", in, msg, want)
		}
	}
}
