package bootstrap

import (
	"slices"
	"testing"
)

func TestBackendNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("names %v are not sorted and unique", names)
	}
	for _, name := range names {
		if b, err := Lookup(name); err != nil || b.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, b, err)
		}
	}
	if _, err := Lookup("debootstap"); err == nil {
		t.Error("Lookup of an unknown backend succeeded")
	}
}

// TestHostInputs: the host files whose contents the stage cache's key
// holds. A downloaded keyring or tarball is pinned by the block's own
// values (fingerprints, sha256) instead.
func TestHostInputs(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want []string
	}{
		{Config{Backend: "debootstrap", Keyring: "/k.gpg"}, []string{"/k.gpg"}},
		{Config{Backend: "mmdebstrap", Keyring: "https://example.org/k.gpg"}, nil},
		{Config{Backend: "debootstrap"}, nil},
		{Config{Backend: "tarball", Source: "/t.tar.xz"}, []string{"/t.tar.xz"}},
		{Config{Backend: "tarball", Source: "https://example.org/t.tar.xz"}, nil},
		{Config{Backend: "directory", Source: "/srv/tree"}, []string{"/srv/tree"}},
		{Config{Backend: "busybox"}, []string{DefaultBusybox}},
		{Config{Backend: "busybox", Binary: "/opt/busybox"}, []string{"/opt/busybox"}},
	} {
		b, err := Lookup(tt.cfg.Backend)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.HostInputs(&tt.cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: host inputs %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
