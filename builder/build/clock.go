package build

import (
	"sync"

	"github.com/builder-images/builder/builder/events"
)

// stageClock passes a build's events on to its sink and adds up the time
// of each stage, for the summary and build_end: steps by their end
// events, packing and delivery as Build times them.
type stageClock struct {
	sink events.Sink

	mu     sync.Mutex
	order  []string
	totals map[string]float64
}

func newStageClock(sink events.Sink) *stageClock {
	return &stageClock{sink: sink, totals: map[string]float64{}}
}

func (c *stageClock) Emit(e events.Event) {
	if e.Type == events.StepEnd && e.Step != nil {
		c.add(stageOf(e.Step), e.Duration)
	}
	c.sink.Emit(e)
}

// add records time spent in a stage.
func (c *stageClock) add(name string, seconds float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.totals[name]; !ok {
		c.order = append(c.order, name)
	}
	c.totals[name] += seconds
}

func (c *stageClock) times() []StageTime {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]StageTime, len(c.order))
	for i, name := range c.order {
		out[i] = StageTime{Name: name, Seconds: c.totals[name]}
	}
	return out
}

// stageOf groups steps for the time per stage.
func stageOf(s *events.Step) string {
	switch s.Kind {
	case "run":
		return "runs"
	case "file", "copy", "remove":
		return "files"
	case "repository":
		return "repositories"
	}
	return s.Kind
}
