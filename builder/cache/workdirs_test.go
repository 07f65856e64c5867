package cache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWorkDirRecords(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var reports []Damage
	c.Report = func(d Damage) { reports = append(reports, d) }
	a, b := "/srv/out/.builder-work-1", "/tmp/x/.builder-work-2"
	for _, p := range []string{a, b, a} {
		if err := c.RecordWorkDir(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RecordWorkDir("relative/.builder-work-3"); err == nil {
		t.Error("a relative path was recorded")
	}
	// Planted records: a name that is not a key, one whose name does not
	// match its path, one holding a relative path.
	dir := filepath.Join(c.Dir, "workdirs")
	for name, content := range map[string]string{
		"../../etc":                              "/etc\n",
		workDirEntry("/else")[len("workdirs/"):]: "/etc\n",
		workDirEntry("x")[len("workdirs/"):]:     "x\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.WorkDirs()
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{a, b}) {
		t.Errorf("WorkDirs = %v, %v; want %v", got, err, []string{a, b})
	}
	if len(reports) != 3 {
		t.Errorf("reported %v, want the 3 planted records", reports)
	}
	if err := c.ForgetWorkDir(a); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.WorkDirs(); !slices.Equal(got, []string{b}) {
		t.Errorf("after forgetting %s: %v", a, got)
	}
}
