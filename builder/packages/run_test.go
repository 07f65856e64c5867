package packages

import (
	"context"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/step/steptest"
)

// TestRunSharesDownloads: with the build's cache, apt runs with the
// shared download directory bound, and cleans up only once it is gone.
func TestRunSharesDownloads(t *testing.T) {
	p := &Config{Manager: "apt", Update: true, Install: []string{"curl"}, Cleanup: true}
	tests := []struct {
		name   string
		shared bool
		fail   string
		want   []string
	}{
		{"no cache", false, "", []string{"update", "install curl", "autoremove --purge", "clean"}},
		{"cache", true, "", []string{"share /var/cache/apt/archives", "update", "install curl", "unshare /var/cache/apt/archives", "autoremove --purge", "clean"}},
		{"failed install", true, "install", []string{"share /var/cache/apt/archives", "update", "install curl", "unshare /var/cache/apt/archives"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := &steptest.Runtime{Shared: tt.shared, Fail: tt.fail}
			err := p.Run(context.Background(), rt)
			if (err != nil) != (tt.fail != "") {
				t.Fatalf("Run = %v", err)
			}
			var got []string
			for _, call := range rt.Calls {
				if rest, ok := strings.CutPrefix(call, "exec apt: apt-get "+strings.Join(aptOptions, " ")+" "); ok {
					call = rest
				}
				got = append(got, call)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestRunUnknownManager(t *testing.T) {
	rt := &steptest.Runtime{Shared: true}
	if err := (&Config{Manager: "pacman"}).Run(context.Background(), rt); err == nil || len(rt.Calls) > 0 {
		t.Errorf("Run = %v after %v; want an error and nothing run", err, rt.Calls)
	}
}
