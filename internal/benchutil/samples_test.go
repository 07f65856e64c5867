package benchutil

import "testing"

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Spread
	}{
		{nil, Spread{}},
		{[]float64{2}, Spread{2, 2, 2, 1}},
		{[]float64{3, 1, 2}, Spread{2, 1, 3, 3}},
		{[]float64{4, 1, 3, 2}, Spread{2.5, 1, 4, 4}},
		{[]float64{1.2, 0.9, 5, 1.0, 1.1}, Spread{1.1, 0.9, 5, 5}},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("Summarize reordered its input: %v", tc.in)
			}
		}
	}
}

func TestSpreadFormat(t *testing.T) {
	if got, want := (Spread{0.98765, 0.9, 1.2, 5}).Format(3), "0.988 (0.900–1.200)"; got != want {
		t.Errorf("Format(3) = %q, want %q", got, want)
	}
}

func TestSamplesTable(t *testing.T) {
	var m Samples
	for _, v := range []float64{1.1, 0.9, 1.0} {
		m.Add("wall/C", v)
		m.Add("RSS-MiB", v*100)
	}
	m.Add("wall/C", 1.05)
	want := "" +
		"metric      median        min        max   n\n" +
		"wall/C       1.025      0.900      1.100   4\n" +
		"RSS-MiB     100.00      90.00     110.00   3\n"
	if got := m.Table(); got != want {
		t.Errorf("Table() =\n%s\nwant\n%s", got, want)
	}
	if s := m.Spread("none"); s != (Spread{}) {
		t.Errorf("Spread of an unknown metric = %+v", s)
	}
}
