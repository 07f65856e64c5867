package build

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/stage"
)

// packReuse is the parent's view of the cache for one output: whether
// the image file packed from the rootfs by an identical earlier build
// (a split image's rootfs file, a VM image's disk) can be reused,
// skipping the packing and, when every output of the instance type can,
// the rootfs stage; and where to keep this build's.
type packReuse struct {
	cache *cache.Cache
	// key is the pack entry's key; empty when the output type cannot
	// reuse one (a unified image holds the metadata too).
	key    string
	points []cache.Point
	hit    *output.ReusedRootfs
}

// packSettings are what an output's packed file depends on besides the
// rootfs, for its key; nil for a type whose files are not kept.
func packSettings(plan *recipe.Plan) []string {
	out := plan.Output
	if !output.Reuses(out) {
		return nil
	}
	switch out.Type {
	case recipe.OutputSplit:
		return []string{out.Type, out.RootfsFormat, out.Compression.String()}
	case recipe.OutputVM:
		// The disk's identities derive from the image's name and the
		// output's (see vmdisk.Options.Seed); its creation time is in
		// the epoch below.
		return []string{out.Type, strconv.FormatInt(out.VM.Size, 10), out.VM.Filesystem,
			strconv.FormatBool(out.VM.SecureBoot), out.VM.Format, plan.Image.Name, out.Name}
	}
	return nil
}

// lookupPackReuse decides for one output: every stage's snapshot is in
// the cache (the bootstrap one younger than the TTL) and so is the file
// packed from the last one with the same settings.
func lookupPackReuse(c *cache.Cache, policy cache.Policy, plan *recipe.Plan, epoch *time.Time, environ []string) (*packReuse, error) {
	pr := &packReuse{cache: c}
	settings := packSettings(plan)
	if settings == nil {
		return pr, nil
	}
	points, err := cache.Points(plan, sourceDateEpoch(environ))
	if err != nil || len(points) == 0 {
		return pr, err
	}
	pr.points = points
	epochText := "none"
	if epoch != nil {
		epochText = strconv.FormatInt(epoch.Unix(), 10)
	}
	host := stage.ReadHostIdentity()
	hostDigest := fmt.Sprintf("%x", sha256.Sum256(append(append([]byte{}, host.Hostname...), host.ResolvConf...)))
	pr.key = cache.PackKey(points[len(points)-1].Key, append(settings, epochText, hostDigest)...)
	if policy.NoCache {
		return pr, nil
	}
	hit, entries, _ := c.Usable(points, policy)
	if hit != len(points)-1 {
		return pr, nil
	}
	newest := entries[len(entries)-1].Created
	e, ok := c.LookupPack(pr.key)
	if !ok || e.Created.Before(newest) || !e.SBOM.Current() {
		// Packed before the snapshots were rebuilt (--no-cache, the
		// TTL): the rootfs it holds is not theirs. Or kept by a builder
		// that wrote no SBOM, or read its facts another way: the rootfs
		// must be read for them.
		return pr, nil
	}
	pr.hit = &output.ReusedRootfs{Path: c.PackFile(pr.key, e), Info: e.File, Packages: e.Packages, Disk: e.Disk, Facts: e.SBOM,
		Open: func() (*os.File, error) { return c.OpenPackFile(pr.key, e) }}
	return pr, nil
}

// reportDamage says each damaged cache entry the build's look-ups found
// and removed, once, as the stages' look-ups in the isolated child do.
func reportDamage(sink events.Sink) func(cache.Damage) {
	return func(d cache.Damage) {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: d.Error() + "; removed it, building without it"})
	}
}

// reportStageHit tells the event stream every stage of the plan hit, as
// the rootfs stage does when it restores them.
func (pr *packReuse) reportStageHit(sink events.Sink, plan *recipe.Plan) {
	now := time.Now()
	for _, p := range pr.points {
		sink.Emit(events.Event{Time: now, Type: events.Cache, CacheGroup: p.Name(), CacheStatus: events.CacheHit, CacheKey: p.Key})
	}
	steps := plan.EnabledSteps()
	total := len(steps) + 1
	for i, s := range steps {
		sink.Emit(events.Event{Time: now, Type: events.StepEnd, Step: stage.StepRef(i+1, total, s), Status: events.StatusCached})
	}
	sink.Emit(events.Event{Time: now, Type: events.StepEnd, Step: &events.Step{Index: total, Total: total, Kind: "finalize", Stage: "finalize"}, Status: events.StatusCached})
}

// reportPackHit tells the event stream the output's file came from the
// cache.
func (pr *packReuse) reportPackHit(sink events.Sink, name string) {
	sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: "pack", CacheStatus: events.CacheHit, CacheKey: pr.key, OutputName: name})
}

// recordHit keeps this build as the recipe's last for the plan's
// instance type, as the rootfs stage does when it runs, so the next miss
// is explained against it.
func (pr *packReuse) recordHit(sink events.Sink, plan *recipe.Plan) {
	abs, err := filepath.Abs(plan.File)
	if err == nil {
		err = pr.cache.RecordBuild(cache.History{Recipe: abs, Type: plan.InstanceType, Image: plan.Image.Name, Points: pr.points, Variables: cache.VariableValues(plan)})
	}
	if err != nil {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: "not recording the build: " + err.Error()})
	}
}

// store keeps this build's packed file (the second of a split or VM
// image's two), with what its SBOM was written from, for the next
// identical build. A cache that cannot be
// written costs the next build time, not this one its image.
func (pr *packReuse) store(sink events.Sink, dir, name string, p output.Packed) {
	j := p.Image
	if pr.key == "" || pr.hit != nil || len(j.Files) != 2 {
		return
	}
	e := cache.PackEntry{Key: pr.key, Image: j.Name, File: j.Files[1], Packages: j.Packages, Disk: j.Disk, SBOM: &p.Facts, Created: time.Now().UTC()}
	start := time.Now()
	if err := pr.cache.StorePack(filepath.Join(dir, j.Files[1].Name), e); err != nil {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", OutputName: name, Line: "not storing the packed " + string(j.Files[1].Role) + ": " + err.Error()})
		return
	}
	sink.Emit(events.Event{Time: time.Now(), Type: events.Cache, CacheGroup: "pack", CacheStatus: events.CacheStored, CacheKey: pr.key,
		OutputName: name, Duration: time.Since(start).Seconds()})
}

// sourceDateEpoch is SOURCE_DATE_EPOCH as the rootfs stage's commands
// see it, "" when unset: part of every cache key.
func sourceDateEpoch(environ []string) string {
	epoch := ""
	for _, kv := range environ {
		if name, value, ok := strings.Cut(kv, "="); ok && name == image.SourceDateEpochVar {
			epoch = value
		}
	}
	return epoch
}
