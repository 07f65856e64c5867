package template

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flosch/pongo2/v6"
)

// Bounds on builder's test render of a template, for each instance and
// trigger. The daemon has none; a template that needs more than this for
// the sample instances is refused before it reaches an image. Real
// templates render in microseconds and write a few lines.
const (
	RenderTimeout = 5 * time.Second
	MaxOutput     = 4 << 20
)

type renderLimits struct {
	timeout time.Duration
	output  int
}

var defaultRenderLimits = renderLimits{RenderTimeout, MaxOutput}

// Parse parses a template's text exactly as LXD and Incus do (wrapped in
// {% autoescape off %}, with BannedTags refused), after refusing what
// could make a renderer run without bound: a tag with more than
// MaxTagTokens tokens, blocks nested deeper than MaxNesting, then, once
// it parses, a macro that calls itself or macros that expand to more
// than MaxMacroCalls calls. It is the one parser of templates: the
// recipe's validation (diagnostics at the error's line and column) and
// the image stage's test render (Check) both use it. Errors are
// *SyntaxError, positioned in body.
func Parse(body string) (*pongo2.Template, error) {
	tags := lexTemplate(body)
	if err := checkTemplateSize(tags); err != nil {
		return nil, err
	}
	set := pongo2.NewSet("lxd-template", noFiles{})
	for _, tag := range BannedTags {
		if err := set.BanTag(tag); err != nil {
			return nil, fmt.Errorf("banning pongo2 tag %s: %w", tag, err)
		}
	}
	tpl, err := set.FromString(autoescapeOpen + body + autoescapeClose)
	if err != nil {
		return nil, syntaxError(err)
	}
	if err := checkMacros(tags); err != nil {
		return nil, err
	}
	return tpl, nil
}

// syntaxError positions a pongo2 error in the template as written
// rather than in LXD's wrapper, and names a banned tag.
func syntaxError(err error) *SyntaxError {
	se := &SyntaxError{Err: err}
	var perr *pongo2.Error
	if !errors.As(err, &perr) {
		return se
	}
	if perr.OrigError != nil {
		se.Err = perr.OrigError
	}
	se.Line, se.Column = perr.Line, perr.Column
	if se.Line == 1 {
		se.Column = max(se.Column-len(autoescapeOpen), 1)
	}
	if perr.Token != nil && perr.Token.Val == "endautoescape" {
		// The wrapper's closing tag is where pongo2 notices a block the
		// template left open.
		se.Err = fmt.Errorf("a block tag is not closed by the end of the template (%w)", se.Err)
		se.Line, se.Column = 0, 0
	}
	// pongo2 checks for banned tags before it parses the tag's
	// arguments, and reports the error at the tag's name.
	if perr.Token != nil && perr.Token.Typ == pongo2.TokenIdentifier && slices.Contains(BannedTags, perr.Token.Val) &&
		perr.OrigError != nil && strings.Contains(perr.OrigError.Error(), "not allowed") {
		se.BannedTag = perr.Token.Val
	}
	return se
}

// errRenderStopped is what a render stopped by its writer returns.
var errRenderStopped = errors.New("render stopped")

// renderBounded renders tpl into w within lim. pongo2 cannot be
// cancelled, so the render runs in a goroutine of its own: past the
// timeout it is abandoned, and its writer ends it (runtime.Goexit) at
// its next write. A render that loops without writing keeps a core busy
// until builder exits, which a failed check makes it do; one that writes
// more than lim.output is ended at that write, before the bytes reach w.
// A panic in pongo2 is an error, not a crash.
func renderBounded(tpl *pongo2.Template, ctx pongo2.Context, w io.Writer, lim renderLimits) error {
	bw := &boundedWriter{w: w, left: lim.output}
	done := make(chan error, 1)
	go func() {
		err := errRenderStopped // unless Execute returns
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("the template engine failed: %v", r)
			}
			done <- err
		}()
		err = tpl.ExecuteWriterUnbuffered(ctx, bw)
	}()
	timer := time.NewTimer(lim.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if bw.over {
			return fmt.Errorf("the output is more than %d MiB, which builder refuses: LXD would write it into every instance, rendering it in the daemon", lim.output>>20)
		}
		return err
	case <-timer.C:
		bw.abandoned.Store(true)
		return fmt.Errorf("rendering took more than %s, which builder refuses: LXD renders templates in the daemon, with no time limit", lim.timeout)
	}
}

// boundedWriter passes at most left bytes on to w, and ends the
// goroutine writing once there are more, or once the render has been
// abandoned.
type boundedWriter struct {
	w         io.Writer
	left      int
	over      bool
	abandoned atomic.Bool
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if b.abandoned.Load() {
		runtime.Goexit()
	}
	if len(p) > b.left {
		b.over = true
		runtime.Goexit()
	}
	b.left -= len(p)
	return b.w.Write(p)
}
