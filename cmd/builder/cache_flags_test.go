package main

import (
	"testing"
	"time"
)

func TestParseSizeAndDays(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "4096": 4096, "10G": 10 << 30, "500M": 500 << 20, "1.5k": 1536, "2GiB": 2 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"ten", "-1G", "5X"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "36h": 36 * time.Hour, "0": 0} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"d", "xd", "-1h", "7days"} {
		if _, err := parseDays(bad); err == nil {
			t.Errorf("parseDays(%q) succeeded", bad)
		}
	}
}
