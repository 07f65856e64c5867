package image_test

import (
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

func TestSourceDateEpoch(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		flag    string
		want    int64 // 0: zero Time
		err     string
	}{
		{"unset", []string{"PATH=/bin"}, "", 0, ""},
		{"environment", []string{"SOURCE_DATE_EPOCH=1704164645"}, "", 1704164645, ""},
		{"last one wins, as os/exec", []string{"SOURCE_DATE_EPOCH=1", "SOURCE_DATE_EPOCH=1704164645"}, "", 1704164645, ""},
		{"flag wins", []string{"SOURCE_DATE_EPOCH=1"}, "1704164645", 1704164645, ""},
		{"flag wins over a bad environment", []string{"SOURCE_DATE_EPOCH=junk"}, "1704164645", 1704164645, ""},
		{"a longer name does not count", []string{"SOURCE_DATE_EPOCH_X=1"}, "", 0, ""},
		{"leading zeros", []string{"SOURCE_DATE_EPOCH=0001704164645"}, "", 1704164645, ""},
		{"empty", []string{"SOURCE_DATE_EPOCH="}, "", 0, "empty"},
		{"not a number", []string{"SOURCE_DATE_EPOCH=yesterday"}, "", 0, "not a whole number"},
		{"fraction", nil, "1704164645.5", 0, "not a whole number"},
		{"negative", nil, "-1", 0, "not a whole number"},
		{"plus sign", nil, "+1", 0, "not a whole number"},
		{"space", []string{"SOURCE_DATE_EPOCH= 1"}, "", 0, "not a whole number"},
		{"zero", nil, "0", 0, "creation_date 0"},
		{"after 9999", nil, "253402300800", 0, "9999"},
		{"overflow", nil, "99999999999999999999", 0, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := image.SourceDateEpoch(tt.environ, tt.flag)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 {
				if !got.IsZero() {
					t.Errorf("got %v, want the zero Time", got)
				}
				return
			}
			if got.Unix() != tt.want || got.Location() != time.UTC {
				t.Errorf("got %v, want %d in UTC", got, tt.want)
			}
		})
	}
}

// TestSourceDateEpochNamesOrigin: the error says which setting was bad.
func TestSourceDateEpochNamesOrigin(t *testing.T) {
	_, err := image.SourceDateEpoch([]string{"SOURCE_DATE_EPOCH=x"}, "")
	if err == nil || !strings.HasPrefix(err.Error(), `SOURCE_DATE_EPOCH="x"`) {
		t.Errorf("error %v", err)
	}
	_, err = image.SourceDateEpoch(nil, "x")
	if err == nil || !strings.HasPrefix(err.Error(), `--source-date-epoch="x"`) {
		t.Errorf("error %v", err)
	}
}
