package build

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/stage"
)

// newWorkDir removes the work directories builds killed in parent left
// (kill -9 gives a build no chance to), then makes this build's, owned by
// this process and recorded in the cache, if any, for 'builder cache
// prune' to find should this build be killed too.
func newWorkDir(parent string, c *cache.Cache, sink events.Sink) (*stage.WorkDir, error) {
	removed, err := stage.RemoveStaleWorkDirs(parent)
	for _, dir := range removed {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "removed " + dir + ", the work directory of a build that was killed"})
	}
	if err != nil {
		// Another build's mess does not stop this one.
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
	}
	work, err := stage.NewWorkDir(parent)
	if err != nil {
		return nil, err
	}
	if c != nil {
		if err := c.RecordWorkDir(work.Path); err != nil {
			sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: "warning: " + err.Error() + "; cache prune will not find it"})
		}
	}
	return work, nil
}

// PruneWorkDirs removes the work directories c records whose builds were
// killed, and forgets those that are gone; dryRun only says which it
// would remove. A recorded path is untrusted: only a stale work
// directory there is removed (see stage.RemoveStaleWorkDir).
func PruneWorkDirs(c *cache.Cache, dryRun bool) (removed []string, err error) {
	dirs, err := c.WorkDirs()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, dir := range dirs {
		ok, err := stage.RemoveStaleWorkDir(dir, dryRun)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed = append(removed, dir)
		}
		if _, statErr := os.Lstat(dir); !dryRun && errors.Is(statErr, fs.ErrNotExist) {
			errs = append(errs, c.ForgetWorkDir(dir))
		}
	}
	return removed, errors.Join(errs...)
}
