package events

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// SensitiveText replaces a sensitive value wherever builder would print
// one.
const SensitiveText = "(sensitive value)"

// MinSecretLength is the shortest text that is masked. Masking every
// "on" or "42" would garble whole logs while hiding little, so shorter
// values (and shorter lines of multi-line values) are printed as they
// are; the recipe loader warns about such a sensitive value instead.
// GitHub Actions masks values of any length, GitLab refuses to mask
// fewer than 8 characters; 4 keeps a PIN masked.
const MinSecretLength = 4

// minBase64Length is the shortest base64 fragment masked: shorter ones
// turn up by chance in the base64 that package lists and keys are full
// of.
const minBase64Length = MinSecretLength + 2

// jsonString is s as a JSON string's contents, with <, > and & escaped
// (encoding/json's default, image.json) or not (the event stream).
func jsonString(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return ""
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// Masker replaces the texts of sensitive values, as CI systems mask
// secrets: each value as written, each line of a multi-line value, and
// the forms a value takes when quoted, URL-encoded or base64-encoded. It
// is safe for concurrent use, and values may be added after sinks and
// writers were made from it: a command learns them when it loads the
// recipe, after its output streams exist. A nil *Masker masks nothing.
type Masker struct {
	mu       sync.RWMutex
	patterns []string
	known    map[string]bool
	longest  int
}

// NewMasker returns a masker for the given values.
func NewMasker(secrets ...string) *Masker {
	m := &Masker{known: map[string]bool{}}
	m.Add(secrets...)
	return m
}

// Add masks more values from now on.
func (m *Masker) Add(secrets ...string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known == nil {
		m.known = map[string]bool{}
	}
	for _, s := range secrets {
		for _, p := range patternsOf(s) {
			if m.known[p] {
				continue
			}
			m.known[p] = true
			m.patterns = append(m.patterns, p)
			m.longest = max(m.longest, len(p))
		}
	}
}

// patternsOf lists the texts that reveal secret. No pattern holds a
// newline: output is read line by line, so a multi-line value is masked
// line by line, and a writer never has to hold back a finished line.
func patternsOf(secret string) []string {
	var out []string
	add := func(p string) {
		if len(p) >= MinSecretLength && !strings.Contains(p, "\n") {
			out = append(out, p)
		}
	}
	for _, line := range strings.Split(secret, "\n") {
		add(strings.TrimSpace(line))
	}
	if strings.TrimSpace(secret) == "" {
		return out
	}
	// As %q and JSON print it: a value with quotes, backslashes or
	// newlines appears escaped in error messages and NDJSON.
	quoted := strconv.Quote(secret)
	add(quoted[1 : len(quoted)-1])
	add(jsonString(secret, true))
	add(jsonString(secret, false))
	add(url.QueryEscape(secret))
	add(url.PathEscape(secret))
	// base64 of the value alone, padding included (`printf %s "$TOKEN" |
	// base64`), and at each of the three alignments a value can have inside a
	// longer encoded text, as GitHub's runner does; only the characters
	// that depend on the value alone are kept.
	add(base64.StdEncoding.EncodeToString([]byte(secret)))
	for shift := 0; shift < 3; shift++ {
		data := append(make([]byte, shift), secret...)
		enc := base64.StdEncoding.EncodeToString(data)
		start := (shift*8 + 5) / 6
		end := len(data) * 8 / 6
		if end-start >= minBase64Length {
			add(enc[start:end])
			add(strings.NewReplacer("+", "-", "/", "_").Replace(enc[start:end]))
		}
	}
	return out
}

// Empty reports whether there is nothing to mask.
func (m *Masker) Empty() bool {
	if m == nil {
		return true
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.patterns) == 0
}

// span is a masked range of a text: [start, end).
type span struct{ start, end int }

// spans finds every occurrence of every pattern in s, overlapping ones
// included, merged into disjoint ranges: two secrets sharing characters
// are masked together, whatever order they were added in.
func (m *Masker) spans(s string) []span {
	var found []span
	for _, p := range m.patterns {
		for from := 0; from <= len(s)-len(p); {
			i := strings.Index(s[from:], p)
			if i < 0 {
				break
			}
			found = append(found, span{from + i, from + i + len(p)})
			from += i + 1
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].start < found[j].start })
	merged := found[:1]
	for _, sp := range found[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// replace writes s with the spans (ending at or before end) masked.
func replace(s string, spans []span) string {
	var b strings.Builder
	at := 0
	for _, sp := range spans {
		b.WriteString(s[at:sp.start])
		b.WriteString(SensitiveText)
		at = sp.end
	}
	b.WriteString(s[at:])
	return b.String()
}

// Mask returns s with every sensitive value replaced by SensitiveText.
func (m *Masker) Mask(s string) string {
	if m == nil || s == "" {
		return s
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.patterns) == 0 {
		return s
	}
	return replace(s, m.spans(s))
}

func (m *Masker) maskAll(list []string) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = m.Mask(s)
	}
	return out
}

// MaskEvent returns a copy of e with every text in it masked. e itself
// is left alone: its Step is shared with the events that follow.
func (m *Masker) MaskEvent(e Event) Event {
	if m.Empty() {
		return e
	}
	e.Recipe, e.Image, e.Output = m.Mask(e.Recipe), m.Mask(e.Image), m.Mask(e.Output)
	e.Label, e.Line = m.Mask(e.Label), m.Mask(e.Line)
	e.Daemon, e.CacheGroup = m.Mask(e.Daemon), m.Mask(e.CacheGroup)
	e.Aliases, e.Reasons = m.maskAll(e.Aliases), m.maskAll(e.Reasons)
	e.Instance, e.Detail = m.Mask(e.Instance), m.Mask(e.Detail)
	if e.Step != nil {
		step := *e.Step
		step.Name, step.File = m.Mask(step.Name), m.Mask(step.File)
		e.Step = &step
	}
	if e.Error != nil {
		f := *e.Error
		f.Message, f.File, f.Command = m.Mask(f.Message), m.Mask(f.File), m.Mask(f.Command)
		f.Tail = m.maskAll(f.Tail)
		e.Error = &f
	}
	if e.File != nil {
		file := *e.File
		file.Name = m.Mask(file.Name)
		e.File = &file
	}
	return e
}

// Sink returns a sink that masks every event before next sees it.
func (m *Masker) Sink(next Sink) Sink {
	if m == nil {
		return next
	}
	return &maskedSink{m: m, next: next}
}

type maskedSink struct {
	m    *Masker
	next Sink
}

func (s *maskedSink) Emit(e Event) { s.next.Emit(s.m.MaskEvent(e)) }

// holdBack is how many bytes at the end of s might begin a value that
// the next write completes: the longest suffix of s that is a proper
// prefix of a pattern.
func (m *Masker) holdBack(s string) int {
	for n := min(len(s), m.longest-1); n > 0; n-- {
		tail := s[len(s)-n:]
		for _, p := range m.patterns {
			if len(p) > n && p[0] == tail[0] && strings.HasPrefix(p, tail) {
				return n
			}
		}
	}
	return 0
}

// Writer returns a writer that masks what passes through it to out. A
// value split over two writes is still masked: the end of a write that
// could begin one waits for the next write, or for Flush.
func (m *Masker) Writer(out io.Writer) *Writer {
	return &Writer{m: m, out: out}
}

// Writer is a masking writer; see Masker.Writer.
type Writer struct {
	m       *Masker
	out     io.Writer
	mu      sync.Mutex
	pending string
	json    bool
}

// SetJSON says that what follows is JSON text (NDJSON events, `--json`
// output): values are then masked inside string literals only, line by
// line, so that the output stays JSON. Masking bytes anywhere could cut
// a number in two: a 4-digit PIN inside a duration such as 0.162470768.
func (w *Writer) SetJSON() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.json = true
}

// Unwrap returns the writer masked text goes to, so that callers can
// still tell a terminal.
func (w *Writer) Unwrap() io.Writer { return w.out }

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == "" && w.m.Empty() {
		if _, err := w.out.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	text := w.pending + string(p)
	if w.json {
		return len(p), w.writeJSONLines(text)
	}
	w.m.mu.RLock()
	spans := w.m.spans(text)
	cut := len(text) - w.m.holdBack(text)
	w.m.mu.RUnlock()
	// A held-back start may lie inside a value found whole already: the
	// value waits too, to be masked with what may follow it.
	var done []span
	for _, sp := range spans {
		if sp.end <= cut {
			done = append(done, sp)
		} else if sp.start < cut {
			cut = sp.start
		}
	}
	w.pending = text[cut:]
	if cut == 0 {
		return len(p), nil
	}
	if _, err := io.WriteString(w.out, replace(text[:cut], done)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what was held back, masked.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == "" {
		return nil
	}
	text := w.m.Mask(w.pending)
	if w.json {
		text = w.m.maskJSONLine(w.pending) // a last line without its newline
	}
	w.pending = ""
	_, err := io.WriteString(w.out, text)
	return err
}

// writeJSONLines writes the complete lines of text, masked as JSON, and
// keeps the rest: JSON escapes newlines inside strings, so no string
// literal spans two lines.
func (w *Writer) writeJSONLines(text string) error {
	end := strings.LastIndexByte(text, '\n') + 1
	w.pending = text[end:]
	if end == 0 {
		return nil
	}
	var b strings.Builder
	for _, line := range strings.SplitAfter(text[:end], "\n") {
		b.WriteString(w.m.maskJSONLine(line))
	}
	_, err := io.WriteString(w.out, b.String())
	return err
}

// maskJSONLine masks values inside the string literals of one line of
// JSON text, leaving its numbers, keywords and punctuation alone.
func (m *Masker) maskJSONLine(line string) string {
	if m.Empty() {
		return line
	}
	var b strings.Builder
	for i := 0; i < len(line); {
		q := strings.IndexByte(line[i:], '"')
		if q < 0 {
			b.WriteString(line[i:])
			break
		}
		q += i
		b.WriteString(line[i : q+1])
		j := q + 1
		for j < len(line) && line[j] != '"' {
			if line[j] == '\\' {
				j++
			}
			j++
		}
		j = min(j, len(line))
		b.WriteString(m.maskEscaped(line[q+1 : j]))
		i = j
		if j < len(line) {
			b.WriteByte('"')
			i++
		}
	}
	return b.String()
}

// maskEscaped masks the contents of a JSON string literal as written,
// widening each masked range to whole escape sequences so that none is
// left half replaced (`\` followed by "(sensitive value)").
func (m *Masker) maskEscaped(s string) string {
	m.mu.RLock()
	spans := m.spans(s)
	m.mu.RUnlock()
	if len(spans) == 0 {
		return s
	}
	// escape[k] is where the escape sequence holding byte k starts, or -1;
	// escEnd[k] where it ends.
	escape, escEnd := make([]int, len(s)), make([]int, len(s))
	for k := 0; k < len(s); {
		n := 1
		if s[k] == '\\' {
			n = 2
			if k+1 < len(s) && s[k+1] == 'u' {
				n = 6
			}
		}
		n = min(n, len(s)-k)
		for x := k; x < k+n; x++ {
			escape[x], escEnd[x] = -1, k+n
			if n > 1 {
				escape[x] = k
			}
		}
		k += n
	}
	var widened []span
	for _, sp := range spans {
		if escape[sp.start] >= 0 {
			sp.start = escape[sp.start]
		}
		sp.end = max(sp.end, escEnd[sp.end-1])
		if n := len(widened); n > 0 && sp.start < widened[n-1].end {
			widened[n-1].end = max(widened[n-1].end, sp.end)
			continue
		}
		widened = append(widened, sp)
	}
	return replace(s, widened)
}
