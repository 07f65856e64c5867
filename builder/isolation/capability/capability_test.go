package capability

import (
	"slices"
	"testing"
)

func TestLookupSpellings(t *testing.T) {
	for _, name := range []string{"SYS_ADMIN", "sys_admin", "CAP_SYS_ADMIN", " cap_sys_admin "} {
		s, ok := Lookup(name)
		if !ok || s != 1<<21 {
			t.Errorf("Lookup(%q) = %x, %v; want bit 21", name, uint64(s), ok)
		}
	}
	if _, ok := Lookup("SYS_ADMN"); ok {
		t.Error("Lookup accepted a misspelling")
	}
	if all, ok := Lookup("all"); !ok || len(all.List()) != len(Names()) {
		t.Errorf("ALL = %v", all.List())
	}
}

// TestBuildSet pins the set every command keeps: a change here changes
// what a run step may do to the host, and the README's list with it.
func TestBuildSet(t *testing.T) {
	want := []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP"}
	if got := Build.List(); !slices.Equal(got, want) {
		t.Errorf("Build = %v, want %v (in number order)", got, want)
	}
	for _, gone := range []string{"SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT", "SYS_TIME",
		"MAC_ADMIN", "MAC_OVERRIDE", "DAC_READ_SEARCH", "MKNOD", "NET_ADMIN", "NET_RAW"} {
		c, _ := Lookup(gone)
		if Build&c != 0 {
			t.Errorf("Build keeps %s", gone)
		}
	}
}

func TestParse(t *testing.T) {
	s, err := Parse([]string{"MKNOD", "NET_RAW"})
	if err != nil || s.String() != "NET_RAW,MKNOD" {
		t.Errorf("Parse = %q, %v", s, err)
	}
	if _, err := Parse([]string{"MKNOD", "BOGUS"}); err == nil {
		t.Error("Parse accepted an unknown name")
	}
}
