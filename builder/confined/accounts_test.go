package confined

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fakePasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"garbage line\n" +
		"app:x:1234:2345:App:/srv/app:/usr/sbin/nologin\n" +
		"bad:x:notanumber:1::/:/bin/false\n"
	fakeGroup = "root:x:0:\nstaff:x:50:\napp:x:2345:www-data\n"
)

func TestLookupOwner(t *testing.T) {
	withFiles := t.TempDir()
	layout(t, withFiles, "etc/passwd="+fakePasswd, "etc/group="+fakeGroup)
	bare := t.TempDir() // a rootfs without account files yet

	tests := []struct {
		name, root, owner, group string
		uid, gid                 int
		// wantErr lists substrings of the error; nil means success.
		wantErr []string
	}{
		{name: "names", root: withFiles, owner: "app", group: "app", uid: 1234, gid: 2345},
		{name: "numbers", root: withFiles, owner: "1000", group: "50", uid: 1000, gid: 50},
		{name: "name and number", root: withFiles, owner: "app", group: "0", uid: 1234, gid: 0},
		{name: "root", root: withFiles, owner: "root", group: "staff", uid: 0, gid: 50},
		{name: "empty means root", root: withFiles, uid: 0, gid: 0},
		{name: "root without files", root: bare, owner: "root", group: "root"},
		{name: "numbers without files", root: bare, owner: "33", group: "33", uid: 33, gid: 33},
		{name: "missing user", root: withFiles, owner: "nobody2", group: "app",
			wantErr: []string{`user "nobody2"`, "/etc/passwd"}},
		{name: "missing group", root: withFiles, owner: "app", group: "wheel",
			wantErr: []string{`group "wheel"`, "/etc/group"}},
		{name: "malformed id", root: withFiles, owner: "bad", group: "app",
			wantErr: []string{`user "bad"`, "/etc/passwd", "line 4", "notanumber"}},
		{name: "reserved id", root: withFiles, owner: "4294967295", group: "app",
			wantErr: []string{`user "4294967295"`, "not a valid id"}},
		{name: "no passwd file", root: bare, owner: "app", group: "root",
			wantErr: []string{`user "app"`, "/etc/passwd", "no such file"}},
		{name: "group named like a user only", root: withFiles, owner: "root", group: "www-data",
			wantErr: []string{`group "www-data"`, "/etc/group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, gid, err := LookupOwner(tt.root, tt.owner, tt.group)
			if tt.wantErr == nil {
				if err != nil || uid != tt.uid || gid != tt.gid {
					t.Errorf("LookupOwner(%q, %q) = %d, %d, %v; want %d, %d", tt.owner, tt.group, uid, gid, err, tt.uid, tt.gid)
				}
				return
			}
			if err == nil {
				t.Fatalf("LookupOwner(%q, %q) = %d, %d; want an error", tt.owner, tt.group, uid, gid)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestLookupOwnerIgnoresHostAccounts gives the image an /etc (or account
// files) that are symlinks to a host directory holding a user the image
// does not have: the lookup must not find it.
func TestLookupOwnerIgnoresHostAccounts(t *testing.T) {
	f := newEscapeFixture(t)
	layout(t, f.out, "passwd=hostonly:x:4242:4242::/:/bin/sh\n", "group=hostonly:x:4242:\n")
	f.before = snapshot(t, f.base, f.root)
	tests := map[string][]string{
		"/etc absolute":        {"etc->" + f.out},
		"/etc climbing":        {"etc->" + f.climb()},
		"/etc/passwd absolute": {"etc/passwd->" + filepath.Join(f.out, "passwd"), "etc/group->" + filepath.Join(f.out, "group")},
		"/etc/passwd climbing": {"etc/passwd->" + f.climb() + "/passwd", "etc/group->" + f.climb() + "/group"},
	}
	for name, specs := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.RemoveAll(f.root); err != nil {
				t.Fatal(err)
			}
			layout(t, f.root, specs...)
			uid, _, err := LookupOwner(f.root, "hostonly", "0")
			if err == nil || !strings.Contains(err.Error(), `user "hostonly"`) {
				t.Errorf("user from the host's files: uid %d, %v", uid, err)
			}
			_, gid, err := LookupOwner(f.root, "0", "hostonly")
			if err == nil || !strings.Contains(err.Error(), `group "hostonly"`) {
				t.Errorf("group from the host's files: gid %d, %v", gid, err)
			}
			f.assertUntouched(t)
		})
	}
}
