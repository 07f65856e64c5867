package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const masked = SensitiveText

func TestMask(t *testing.T) {
	key := "-----BEGIN KEY-----\nAAAAline1secret\r\nBBBBline2secret\nab\n-----END KEY-----\n"
	m := NewMasker("hunter22", "abcdef", "defghi", key, "xy", "")
	for _, tc := range []struct{ in, want string }{
		{"no secret here", "no secret here"},
		{"pass=hunter22.", "pass=" + masked + "."},
		{"hunter22hunter22", masked + masked},
		// Overlapping values are masked as one, whichever was added first.
		{"abcdefghi!", masked + "!"},
		{"xxdefghiabcdef", "xx" + masked + masked},
		// Each line of a multi-line value, wherever it turns up.
		{"got AAAAline1secret", "got " + masked},
		{"BBBBline2secret\r", masked + "\r"},
		// Too short to mask: a 2-character value and a 2-character line.
		{"xy ab", "xy ab"},
		// Quoted as %q and JSON print it.
		{fmt.Sprintf("%q", key), `"` + masked + `"`},
		{"u=" + base64.StdEncoding.EncodeToString([]byte("hunter22")), "u=" + masked},
		{"url https://me:hunter22@host/", "url https://me:" + masked + "@host/"},
	} {
		if got := m.Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMaskBase64Alignments: a value base64-encoded inside a longer text
// is found at each of the three byte alignments.
func TestMaskBase64Alignments(t *testing.T) {
	secret := "correct horse battery staple"
	m := NewMasker(secret)
	for _, prefix := range []string{"", "u:", "us:", "use:"} {
		enc := base64.StdEncoding.EncodeToString([]byte(prefix + secret + "!"))
		got := m.Mask(enc)
		if !strings.Contains(got, masked) {
			t.Errorf("prefix %q: %s not masked", prefix, enc)
		}
	}
}

// TestMaskJSONEscapes: a value with characters JSON escapes is masked in
// the encoded event as well as in the event's text.
func TestMaskJSONEscapes(t *testing.T) {
	secret := `pa"ss<&>\word`
	m := NewMasker(secret)
	for _, escapeHTML := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(escapeHTML)
		if err := enc.Encode(map[string]string{"line": "is " + secret}); err != nil {
			t.Fatal(err)
		}
		if got := m.Mask(b.String()); got != `{"line":"is `+masked+`"}`+"\n" {
			t.Errorf("escapeHTML %v: %s", escapeHTML, got)
		}
	}
}

// TestMaskWriterSplitWrites: a value split over writes, byte by byte or
// across a line's end, is masked; text that only begins like a value is
// written once it cannot be one, and Flush writes the rest.
func TestMaskWriterSplitWrites(t *testing.T) {
	m := NewMasker("s3cr3t-token", "abcdef", "defghi", "line-one-xx\nline-two-yy")
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"byte by byte", strings.Split("id s3cr3t-token done\n", ""), "id " + masked + " done\n"},
		{"two halves", []string{"id s3cr3", "t-token\n"}, "id " + masked + "\n"},
		{"a prefix only", []string{"s3cr3", "t\n"}, "s3cr3t\n"},
		{"prefix at the end", []string{"x s3cr"}, "x s3cr"},
		{"overlapping, split", []string{"abcdefg", "hi\n"}, masked + "\n"},
		{"multi-line value", []string{"line-one", "-xx\nline-", "two-yy\n"}, masked + "\n" + masked + "\n"},
	} {
		var out bytes.Buffer
		w := m.Writer(&out)
		for _, s := range tc.writes {
			if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
				t.Fatalf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: wrote %q, want %q", tc.name, out.String(), tc.want)
		}
	}
}

// TestMaskWriterHoldsOnlyPrefixes: a finished line is never held back,
// so output reaches the terminal as it comes.
func TestMaskWriterHoldsOnlyPrefixes(t *testing.T) {
	m := NewMasker("s3cr3t-token")
	var out bytes.Buffer
	w := m.Writer(&out)
	fmt.Fprint(w, "progress 10%\r")
	fmt.Fprint(w, "line\n")
	if out.String() != "progress 10%\rline\n" {
		t.Errorf("wrote %q before Flush", out.String())
	}
	fmt.Fprint(w, "half s3c")
	if out.String() != "progress 10%\rline\nhalf " {
		t.Errorf("wrote %q with a possible start held", out.String())
	}
}

// TestMaskerAddLater: values added after a writer and a sink were made
// are masked by them.
func TestMaskerAddLater(t *testing.T) {
	m := NewMasker()
	var out bytes.Buffer
	w := m.Writer(&out)
	var got []Event
	sink := m.Sink(sinkFunc(func(e Event) { got = append(got, e) }))
	m.Add("late-secret")
	fmt.Fprintln(w, "a late-secret")
	step := &Step{Name: "late-secret step"}
	sink.Emit(Event{Type: StepEnd, Step: step, Error: &Failure{Message: "late-secret failed", Tail: []string{"late-secret"}}})
	if out.String() != "a "+masked+"\n" {
		t.Errorf("writer: %q", out.String())
	}
	e := got[0]
	if e.Step.Name != masked+" step" || e.Error.Message != masked+" failed" || e.Error.Tail[0] != masked {
		t.Errorf("event: %+v %+v", e.Step, e.Error)
	}
	if step.Name != "late-secret step" {
		t.Error("the emitted event's step was changed in place")
	}
}

func TestNilMasker(t *testing.T) {
	var m *Masker
	m.Add("x")
	if m.Mask("secret") != "secret" || !m.Empty() {
		t.Error("a nil masker masked")
	}
}

type sinkFunc func(Event)

func (f sinkFunc) Emit(e Event) { f(e) }

// TestMaskWriterJSON: in JSON mode only string literals are masked, so
// a 4-digit secret cannot break a number, and an escape sequence is
// never left half replaced; each line stays valid JSON.
func TestMaskWriterJSON(t *testing.T) {
	m := NewMasker("2470", "nsecret", `q"uote`)
	var out bytes.Buffer
	w := m.Writer(&out)
	w.SetJSON()
	lines := []string{
		`{"type":"step_end","duration":0.162470768,"line":"pin 2470"}`,
		`{"line":"a\nsecret","other":"x\u0022nsecret"}`,
		`{"line":"is q\"uote","n":2470}`,
	}
	text := strings.Join(lines, "\n") + "\n"
	// Split mid-string: the writer waits for the line's end.
	if _, err := w.Write([]byte(text[:30])); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q before the line ended", out.String())
	}
	if _, err := w.Write([]byte(text[30:])); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`{"type":"step_end","duration":0.162470768,"line":"pin ` + masked + `"}`,
		`{"line":"a` + masked + `","other":"x\u0022` + masked + `"}`,
		`{"line":"is ` + masked + `","n":2470}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %s, want %s", i, got[i], want[i])
		}
		if !json.Valid([]byte(got[i])) {
			t.Errorf("line %d is no longer JSON: %s", i, got[i])
		}
	}
}
