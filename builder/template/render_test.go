package template

import (
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flosch/pongo2/v6"
)

// TestRenderBoundedTime: a render past its time is abandoned with an
// error, and its goroutine ends at its next write.
func TestRenderBoundedTime(t *testing.T) {
	// 10^12 iterations, each writing.
	loop := `{% for a in "x"|ljust:10000|make_list %}`
	tpl, err := Parse(strings.Repeat(loop, 3) + "." + strings.Repeat("{% endfor %}", 3))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	start := time.Now()
	err = renderBounded(tpl, pongo2.Context{}, io.Discard, renderLimits{timeout: 100 * time.Millisecond, output: 1 << 40})
	if err == nil || !strings.Contains(err.Error(), "rendering took more than 100ms") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %s", d)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the abandoned render still runs: %d goroutines, %d before", runtime.NumGoroutine(), before)
		}
	}
}

// TestRenderBoundedPanic: a panic inside the template engine is an
// error.
func TestRenderBoundedPanic(t *testing.T) {
	tpl, err := Parse("{{ boom() }}")
	if err != nil {
		t.Fatal(err)
	}
	ctx := pongo2.Context{"boom": func() *pongo2.Value { panic("kaboom") }}
	err = renderBounded(tpl, ctx, io.Discard, defaultRenderLimits)
	if err == nil || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("error %v", err)
	}
}
