package confined

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// LookupOwner resolves an owner and a group to numeric ids as the image
// itself would: names come from the rootfs's /etc/passwd and /etc/group,
// read through Root so that a symlinked /etc cannot make the host's
// accounts answer; all-digit strings are ids as they are. "root" (and an
// empty name, as a Plan built in code may leave it) is 0 even when the
// image has no such file or entry, since uid and gid 0 are root on every
// Linux system and a bare rootfs may not have account files yet.
func LookupOwner(root, owner, group string) (uid, gid int, err error) {
	r, err := OpenRoot(root)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	return lookupOwner(r, owner, group)
}

func lookupOwner(r *Root, owner, group string) (uid, gid int, err error) {
	if uid, err = lookupID(r, "user", "/etc/passwd", owner); err != nil {
		return 0, 0, err
	}
	if gid, err = lookupID(r, "group", "/etc/group", group); err != nil {
		return 0, 0, err
	}
	return uid, gid, nil
}

// lookupID resolves one name against file, whose lines are
// name:password:id:… in both /etc/passwd and /etc/group.
func lookupID(r *Root, kind, file, name string) (int, error) {
	if id, ok, err := numericID(name); ok || err != nil {
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", kind, name, err)
		}
		return id, nil
	}
	data, readErr := r.ReadFile(file)
	if readErr == nil {
		id, found, err := findID(data, name)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %s in the image: %w", kind, name, file, err)
		}
		if found {
			return id, nil
		}
	}
	if name == "" || name == "root" {
		return 0, nil
	}
	if readErr != nil {
		return 0, fmt.Errorf("%s %q: %w", kind, name, readErr)
	}
	return 0, fmt.Errorf("%s %q not found in the image's %s", kind, name, file)
}

// numericID parses an all-digit id; ok is false for a name.
func numericID(s string) (id int, ok bool, err error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	// 4294967295 is (uid_t)-1, which chown reads as "leave unchanged".
	if err != nil || n == 1<<32-1 {
		return 0, true, fmt.Errorf("%s is not a valid id", s)
	}
	return int(n), true, nil
}

// findID returns the id on name's line. Lines that do not parse are
// skipped, as getpwnam does, except a matching one with a bad id, which
// is reported so a typo in the image is not silently read as missing.
func findID(data []byte, name string) (id int, found bool, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name || name == "" {
			continue
		}
		n, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("line %d: bad id %q", line, fields[2])
		}
		return int(n), true, nil
	}
	return 0, false, sc.Err()
}
