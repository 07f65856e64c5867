package benchutil

import "testing"

// Metrics averages custom benchmark metrics over the iterations and
// reports them in the order they were first added.
type Metrics struct {
	names []string
	sums  map[string]float64
	n     map[string]int
}

// Add records one iteration's value of a metric.
func (m *Metrics) Add(name string, v float64) {
	if m.sums == nil {
		m.sums, m.n = map[string]float64{}, map[string]int{}
	}
	if _, ok := m.sums[name]; !ok {
		m.names = append(m.names, name)
	}
	m.sums[name] += v
	m.n[name]++
}

// Report reports every metric's average on b.
func (m *Metrics) Report(b *testing.B) {
	for _, name := range m.names {
		b.ReportMetric(m.sums[name]/float64(m.n[name]), name)
	}
}
