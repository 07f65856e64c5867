package stage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// snapshotCompression is fast: snapshots are written on every cold
// build and read on every warm one; disk is cheaper than time here.
const snapshotCompression = "zstd-1"

// cacheRun is what the cache decided for one build.
type cacheRun struct {
	// started is when the build looked the cache up; see
	// cache.Entry.BuildStarted.
	started time.Time
	points  []cache.Point
	history cache.History
	// start is the first step to run; the steps before it come from
	// the snapshot of restore.
	start   int
	restore *cache.Point
	// snapshotAfter maps a step's index to the point stored after it.
	snapshotAfter map[int]cache.Point
}

// prepareCache finds the longest cached prefix of the build and reports
// each group: hit, or miss with what changed since the last build.
func (s *Stage) prepareCache(steps []recipe.Step) (*cacheRun, error) {
	// A damaged entry found while looking the stages up is removed by
	// the cache and said here, once.
	s.cache.Report = func(d cache.Damage) {
		s.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: d.Error() + "; removed it, building without it"})
	}
	points, err := cache.Points(s.Plan, lookupEnv(s.Environ, "SOURCE_DATE_EPOCH"))
	if err != nil {
		return nil, err
	}
	cr := &cacheRun{points: points, snapshotAfter: map[int]cache.Point{}, started: time.Now().UTC()}
	cr.history = cache.History{Recipe: s.Recipe, Type: s.Plan.InstanceType, Image: s.Plan.Image.Name, Points: points, Variables: cache.VariableValues(s.Plan)}
	last, hadLast := s.cache.LastBuild(s.Recipe, s.Plan.InstanceType)
	hit := -1
	var reasons []string
	if s.Cache.NoCache {
		reasons = []string{"--no-cache"}
	} else {
		var why string
		hit, _, why = s.cache.Usable(points, s.Cache)
		switch {
		case why != "":
			reasons = []string{why}
		case hit+1 < len(points):
			reasons = cache.Explain(last, hadLast, cr.history, hit+1)
		}
	}
	for i, p := range points {
		switch {
		case i <= hit:
			s.sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: p.Name(), CacheStatus: events.CacheHit, CacheKey: p.Key})
		case i == hit+1:
			s.sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: p.Name(), CacheStatus: events.CacheMiss, CacheKey: p.Key, Reasons: reasons})
			cr.snapshotAfter[p.Last] = p
		default:
			s.sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: p.Name(), CacheStatus: events.CacheMiss, CacheKey: p.Key,
				Reasons: []string{fmt.Sprintf("it follows the %s stage, which is rebuilt", points[hit+1].Name())}})
			cr.snapshotAfter[p.Last] = p
		}
	}
	if hit >= 0 {
		cr.restore = &points[hit]
		cr.start = points[hit].Last + 1
	}
	return cr, nil
}

// restoreSnapshot extracts the cached rootfs into the empty build
// directory and reports the skipped steps as cached.
func (s *Stage) restoreSnapshot(ctx context.Context, cr *cacheRun, steps []recipe.Step, total int) error {
	start := time.Now()
	// The snapshot's bytes are checked against the sha256 recorded
	// when it was stored before anything is extracted from them; as
	// every input from the cache, it is bounded like a tarball.
	f, err := s.cache.OpenSnapshot(cr.restore.Key)
	if err == nil {
		err = confined.ExtractArchiveFile(ctx, f, s.Dir, s.Plan.Limits.Tarball)
	}
	if err != nil {
		return fmt.Errorf("restoring the cached %s stage %s: %w", cr.restore.Name(), image.Short(cr.restore.Key), err)
	}
	for i := range cr.start {
		ref := StepRef(i+1, total, steps[i])
		s.sink.Emit(events.Event{Time: time.Now(), Type: events.StepEnd, Step: ref, Status: events.StatusCached})
	}
	s.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache",
		Line: fmt.Sprintf("restored the %s stage in %s", cr.restore.Name(), time.Since(start).Round(10*time.Millisecond))})
	return nil
}

// discardSnapshot handles a snapshot that could not be restored: it is
// removed from the cache, the build directory emptied, and the build
// goes on from the bootstrap, storing every group afresh.
func (s *Stage) discardSnapshot(cr *cacheRun, restoreErr error) error {
	s.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache",
		Line: fmt.Sprintf("%v; removing it from the cache and building without it", restoreErr)})
	if err := s.cache.Remove(cr.restore.Key); err != nil {
		return fmt.Errorf("removing the damaged snapshot %s: %w", image.Short(cr.restore.Key), err)
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.Dir, e.Name())); err != nil {
			return fmt.Errorf("emptying %s after a failed restore: %w", s.Dir, err)
		}
	}
	for _, p := range cr.points {
		cr.snapshotAfter[p.Last] = p
	}
	cr.restore, cr.start = nil, 0
	return nil
}

// storeSnapshot writes the rootfs, which must have nothing mounted in
// it, as point p's snapshot. A cache that cannot be written does not
// fail the build: the image is still right, only the next build slower.
func (s *Stage) storeSnapshot(ctx context.Context, cr *cacheRun, p cache.Point, parent string) {
	start := time.Now()
	err := s.writeSnapshot(ctx, cr, p, parent)
	if err != nil {
		if ctx.Err() == nil {
			s.sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache",
				Line: fmt.Sprintf("not storing the %s stage: %v", p.Name(), err)})
		}
		return
	}
	s.sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: p.Name(), CacheStatus: events.CacheStored,
		CacheKey: p.Key, Duration: time.Since(start).Seconds()})
}

func (s *Stage) writeSnapshot(ctx context.Context, cr *cacheRun, p cache.Point, parent string) (err error) {
	f, err := s.cache.TempFile("snapshot-*.tar.zst")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	c, err := pack.ParseCompression(snapshotCompression)
	if err != nil {
		f.Close()
		return err
	}
	comp, err := pack.NewCompressor(c, f, runtime.NumCPU())
	if err != nil {
		f.Close()
		return err
	}
	_, err = pack.WriteTree(ctx, comp, s.Dir, pack.TarOptions{})
	err = errors.Join(err, comp.Close(), f.Close())
	if err != nil {
		return err
	}
	return s.cache.Commit(f.Name(), cache.Entry{
		Key: p.Key, Group: p.Group, Parent: parent, Recipe: s.Recipe, Image: s.Plan.Image.Name,
		Created: time.Now().UTC(), Inputs: p.Inputs, BuildStarted: cr.started,
	})
}

// parentOf is the key of the point before p, or "".
func (cr *cacheRun) parentOf(p cache.Point) string {
	for i, q := range cr.points {
		if q.Key == p.Key && i > 0 {
			return cr.points[i-1].Key
		}
	}
	return ""
}

func lookupEnv(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}
