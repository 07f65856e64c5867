// Package check is the data of one line of builder doctor's report: a
// check's name, its verdict, what it found and how to fix a problem. It
// is a leaf, so that the bootstrap backends can declare checks of their
// own (bootstrap.HostChecker) that package doctor runs.
package check

// Status is a check's verdict, in order of gravity: ok, then warn, then
// FAIL.
type Status int

const (
	OK Status = iota
	// Warn is a problem that fails no build this report is about.
	Warn
	// Fail is a problem that fails a build.
	Fail
)

func (s Status) String() string { return [...]string{"ok", "warn", "FAIL"}[s] }

// Result is one line of doctor's report.
type Result struct {
	Name   string
	Status Status
	Detail string
	// Fix says what to install or do; set for every result that is not ok.
	Fix string
}

// Failed says whether any of results failed.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == Fail {
			return true
		}
	}
	return false
}
