// Package capability names the Linux capabilities a command in the image
// keeps: the small set an image build needs (Build), and the names a
// recipe may add to it for one run step. It depends on nothing else in
// builder, so the recipe language and the chroot runner share one table.
package capability

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Set is a set of capabilities, bit n for capability number n, as the
// kernel spells a bounding set.
type Set uint64

// All is the pseudo-name that grants every capability.
const All = "ALL"

// names maps each capability to its number (capabilities(7)).
var names = map[string]uint{
	"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
	"KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
	"NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
	"IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
	"SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21,
	"SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
	"SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29,
	"AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
	"SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
	"PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

// Build is what every command run in the image keeps, and why:
//
//   - CHOWN, DAC_OVERRIDE, FOWNER, FSETID: dpkg and maintainer scripts
//     create files for system users, fix modes and set setgid bits;
//   - SETUID, SETGID: apt drops to its _apt user to download, adduser and
//     su switch users;
//   - SETFCAP: postinst scripts give binaries file capabilities (ping);
//   - SETPCAP: only ever lowers capabilities (apt's privilege drop);
//   - KILL: signals to the step's own processes of other users, which are
//     all it can see;
//   - SYS_CHROOT: a few scripts chroot; below the pivoted root there is
//     nothing of the host to reach;
//   - AUDIT_WRITE: su, login and sshd's tools fail without it.
//
// Everything else is gone from the bounding set, among it SYS_ADMIN
// (mounts), DAC_READ_SEARCH (open_by_handle_at reaches any host file),
// MKNOD (device nodes), NET_ADMIN and NET_RAW (the build shares the
// host's network), SYS_MODULE, SYS_RAWIO, SYS_PTRACE, SYS_BOOT, SYS_TIME,
// MAC_ADMIN and MAC_OVERRIDE.
var Build = mustSet("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID",
	"SETFCAP", "SETPCAP", "KILL", "SYS_CHROOT", "AUDIT_WRITE")

func mustSet(list ...string) Set {
	s, err := Parse(list)
	if err != nil {
		panic(err) // a typo in the table above, not a user error
	}
	return s
}

// Canonical spells a capability name as this package does: upper case,
// without the CAP_ prefix; ok is false for a name that is none.
func Canonical(name string) (string, bool) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "CAP_")
	_, known := names[n]
	return n, known || n == All
}

// Lookup returns the capability a name stands for, with or without the
// CAP_ prefix, in any case; All stands for every one.
func Lookup(name string) (Set, bool) {
	n, ok := Canonical(name)
	switch {
	case !ok:
		return 0, false
	case n == All:
		return allSet(), true
	}
	return 1 << names[n], true
}

// Parse returns the set of the named capabilities.
func Parse(list []string) (Set, error) {
	var s Set
	for _, name := range list {
		c, ok := Lookup(name)
		if !ok {
			return 0, fmt.Errorf("no capability %q", name)
		}
		s |= c
	}
	return s, nil
}

func allSet() Set {
	var s Set
	for _, bit := range names {
		s |= 1 << bit
	}
	return s
}

// Names lists every capability name, sorted, for errors and completion.
func Names() []string {
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Has says whether s holds capability number bit.
func (s Set) Has(bit uint) bool { return bit < 64 && s&(1<<bit) != 0 }

// List names the capabilities in s, in number order.
func (s Set) List() []string {
	byBit := make(map[uint]string, len(names))
	for n, b := range names {
		byBit[b] = n
	}
	var out []string
	for v := uint64(s); v != 0; v &= v - 1 {
		if n, ok := byBit[uint(bits.TrailingZeros64(v))]; ok {
			out = append(out, n)
		}
	}
	return out
}

func (s Set) String() string { return strings.Join(s.List(), ",") }
