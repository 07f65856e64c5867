package benchutil

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Spread is the median, minimum and maximum of a metric's samples.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the spread of vs (the median of an even count is
// the mean of the middle two); the zero Spread for no samples.
func Summarize(vs []float64) Spread {
	if len(vs) == 0 {
		return Spread{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[n-1], N: n}
}

// Format formats the spread as "median (min–max)" with digits decimals.
func (s Spread) Format(digits int) string {
	return fmt.Sprintf("%.*f (%.*f–%.*f)", digits, s.Median, digits, s.Min, digits, s.Max)
}

// Samples keeps every iteration's value of each metric, in the order the
// metrics were first added, for medians and spreads instead of means.
type Samples struct {
	names  []string
	values map[string][]float64
}

// Add records one iteration's value of a metric.
func (m *Samples) Add(name string, v float64) {
	if m.values == nil {
		m.values = map[string][]float64{}
	}
	if _, ok := m.values[name]; !ok {
		m.names = append(m.names, name)
	}
	m.values[name] = append(m.values[name], v)
}

// Spread returns the spread of a metric's samples.
func (m *Samples) Spread(name string) Spread { return Summarize(m.values[name]) }

// Table formats one line per metric: name, median, min, max and the
// number of samples, aligned; ratios (names holding "/") get three
// decimals, the rest two.
func (m *Samples) Table() string {
	var sb strings.Builder
	width := len("metric")
	for _, name := range m.names {
		width = max(width, len(name))
	}
	fmt.Fprintf(&sb, "%-*s %10s %10s %10s %3s\n", width, "metric", "median", "min", "max", "n")
	for _, name := range m.names {
		s, digits := m.Spread(name), 2
		if strings.Contains(name, "/") {
			digits = 3
		}
		fmt.Fprintf(&sb, "%-*s %10.*f %10.*f %10.*f %3d\n", width, name, digits, s.Median, digits, s.Min, digits, s.Max, s.N)
	}
	return sb.String()
}

// Report reports every metric's median on b.
func (m *Samples) Report(b *testing.B) {
	for _, name := range m.names {
		b.ReportMetric(m.Spread(name).Median, name)
	}
}
