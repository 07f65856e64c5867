package template

// Templates are rendered by LXD and Incus inside the daemon, with pongo2,
// which bounds nothing: a macro that calls itself recurses until the
// goroutine's stack overflows, a fatal error that no recover() catches,
// so it kills the daemon (and builder's own test render); an expression
// nested a million deep does the same to the parser. This file refuses
// such templates from their text, before pongo2 parses or renders them,
// with the position of what is refused. What cannot be told from the
// text (a loop's length, a filter's output) is bounded by the test
// render instead (see render.go).

import (
	"fmt"
	"slices"
	"strings"
)

// Static bounds on a template's text. Real templates stay far below them:
// the shipped ones have tags of a dozen tokens, blocks three deep and
// no macros.
const (
	// MaxTagTokens bounds the tokens of one {{ }} or {% %} tag:
	// pongo2 parses expressions by recursion, a level per parenthesis,
	// operator or subscript, so this bounds the parser's depth.
	MaxTagTokens = 1000
	// MaxNesting bounds how deep block tags (if, for, macro …)
	// nest: pongo2 parses and renders each level by recursion.
	MaxNesting = 100
	// MaxMacroCalls bounds the macro calls a macro's body, or
	// the template's top level, expands to, counting a call written in a
	// loop once: a chain of macros each calling the next twice doubles
	// with every link.
	MaxMacroCalls = 10000
)

// SyntaxError is a template body that LXD would refuse to parse,
// or that builder refuses because rendering it could run without bound
// (Unbounded). Line and Column locate it in the body as written; 0 when
// pongo2 gives no position.
type SyntaxError struct {
	Line, Column int
	// BannedTag is the tag LXD refuses (extends, import, include, ssi)
	// when that is why the body does not parse.
	BannedTag string
	Unbounded bool
	Err       error
}

func (e *SyntaxError) Error() string { return e.Err.Error() }

func (e *SyntaxError) Unwrap() error { return e.Err }

// unbounded is a refusal at a token.
func unbounded(tok lexToken, format string, args ...any) *SyntaxError {
	return &SyntaxError{Line: tok.line, Column: tok.col, Unbounded: true, Err: fmt.Errorf(format, args...)}
}

// lexToken is a token inside a tag, as pongo2's lexer makes it.
type lexToken struct {
	kind      tokenKind
	val       string
	line, col int
}

type tokenKind int

const (
	tokIdent tokenKind = iota
	tokKeyword
	tokNumber
	tokString
	tokSymbol
)

// lexTag is one {{ … }} or {% … %}: its opening symbol's position and
// the tokens inside (without the delimiters).
type lexTag struct {
	start lexToken
	block bool // {% %} rather than {{ }}
	toks  []lexToken
}

// pongo2's symbols, longest first, and keywords (lexer.go).
var (
	templateSymbols = []string{
		"{{-", "-}}", "{%-", "-%}",
		"==", ">=", "<=", "&&", "||", "{{", "}}", "{%", "%}", "!=", "<>",
		"(", ")", "+", "-", "*", "<", ">", "/", "^", ",", ".", "!", "|", ":", "=", "%", "[", "]",
	}
	templateKeywords = []string{"in", "and", "or", "not", "true", "false", "as", "export"}
)

// lexTemplate splits a template into its tags the way pongo2's lexer
// does: text, {# #} comments and {% verbatim %} sections are skipped,
// strings are tokens of their own (so "f()" in quotes is no call). It
// never fails: what pongo2 would refuse ends the tag here, and pongo2
// reports it when it parses.
func lexTemplate(src string) []lexTag {
	var tags []lexTag
	line, col, pos := 1, 1, 0
	advance := func(n int) {
		for _, c := range []byte(src[pos : pos+n]) {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		pos += n
	}
	verbatim := false
	for pos < len(src) {
		rest := src[pos:]
		switch {
		case verbatim:
			if strings.HasPrefix(rest, "{% endverbatim %}") {
				advance(len("{% endverbatim %}"))
				verbatim = false
			} else {
				advance(1)
			}
		case strings.HasPrefix(rest, "{% verbatim %}"):
			advance(len("{% verbatim %}"))
			verbatim = true
		case strings.HasPrefix(rest, "{#"):
			end := strings.IndexAny(rest[2:], "\n")
			if close := strings.Index(rest[2:], "#}"); close >= 0 && (end < 0 || close < end) {
				advance(2 + close + 2)
			} else {
				advance(2)
			}
		case strings.HasPrefix(rest, "{{") || strings.HasPrefix(rest, "{%"):
			tag := lexTag{start: lexToken{kind: tokSymbol, val: rest[:2], line: line, col: col}, block: rest[1] == '%'}
			advance(2)
			if pos < len(src) && src[pos] == '-' {
				advance(1)
			}
			for pos < len(src) {
				tok, n := lexCode(src[pos:], line, col)
				if n == 0 {
					break // a character pongo2 does not lex in a tag
				}
				advance(n)
				if tok.kind == tokSymbol && slices.Contains([]string{"}}", "%}", "-}}", "-%}"}, tok.val) {
					break
				}
				if tok.val != "" {
					tag.toks = append(tag.toks, tok)
				}
			}
			tags = append(tags, tag)
		default:
			advance(1)
		}
	}
	return tags
}

// lexCode reads one token (after spaces) at the start of s, which is
// inside a tag, and returns it with the bytes it spans; n is 0 where
// pongo2's lexer stops (a newline, an unknown character, the end).
func lexCode(s string, line, col int) (tok lexToken, n int) {
	for n < len(s) && strings.IndexByte(" \t\r", s[n]) >= 0 {
		n++
	}
	if n == len(s) || s[n] == '\n' {
		return lexToken{}, 0
	}
	tok = lexToken{line: line, col: col + n}
	start := n
	c := s[n]
	switch {
	case isIdentByte(c):
		for n < len(s) && isIdentByte(s[n]) {
			n++
		}
		tok.val = s[start:n]
		switch {
		case strings.Trim(tok.val, "0123456789") == "":
			tok.kind = tokNumber
		case slices.Contains(templateKeywords, tok.val):
			tok.kind = tokKeyword
		default:
			// Digits then letters are one identifier to pongo2, too.
			tok.kind = tokIdent
		}
		return tok, n
	case c == '"' || c == '\'':
		n++
		for n < len(s) && s[n] != c && s[n] != '\n' {
			if s[n] == '\\' {
				n++
			}
			n++
		}
		if n >= len(s) || s[n] != c {
			return lexToken{}, 0
		}
		tok.kind, tok.val = tokString, s[start+1:n]
		return tok, n + 1
	}
	for _, sym := range templateSymbols {
		if strings.HasPrefix(s[n:], sym) {
			tok.kind, tok.val = tokSymbol, sym
			return tok, n + len(sym)
		}
	}
	return lexToken{}, 0
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// blockTags are pongo2's tags that take a body up to end<name>.
var blockTags = []string{"autoescape", "block", "comment", "filter", "for", "if", "ifchanged", "ifequal", "ifnotequal", "macro", "spaceless", "with"}

// checkTemplateSize refuses tags with too many tokens and blocks nested
// too deep: both would make pongo2's recursive parser (and renderer)
// recurse that deep.
func checkTemplateSize(tags []lexTag) *SyntaxError {
	depth := 0
	for _, tag := range tags {
		if len(tag.toks) > MaxTagTokens {
			return unbounded(tag.start, "this tag has %d tokens, more than the %d builder allows: pongo2 parses expressions by recursion, and LXD has no bound on it", len(tag.toks), MaxTagTokens)
		}
		if !tag.block || len(tag.toks) == 0 {
			continue
		}
		name := tag.toks[0].val
		switch {
		case slices.Contains(blockTags, name):
			if depth++; depth > MaxNesting {
				return unbounded(tag.start, "block tags are nested more than %d deep: pongo2 parses and renders each level by recursion, and LXD has no bound on it", MaxNesting)
			}
		case strings.HasPrefix(name, "end") && depth > 0:
			depth--
		}
	}
	return nil
}

// macroCall is a reference to a macro: pongo2 calls a function value it
// meets in an expression, with or without parentheses.
type macroCall struct {
	callee string
	at     lexToken
}

// macroScope is a macro's body, or the template's top level (name "").
type macroScope struct {
	name   string
	params []string
	calls  []macroCall
}

// macroGraph finds every macro and the calls in each scope. A name
// refers to a macro unless it is a tag's name, follows "." (an
// attribute) or "|" (a filter), or is a parameter of an enclosing macro,
// which shadows the macro in that body. Macros defined twice are merged.
func macroGraph(tags []lexTag) (scopes []*macroScope, macros map[string]*macroScope) {
	macros = map[string]*macroScope{}
	for _, tag := range tags {
		if tag.block && len(tag.toks) > 1 && tag.toks[0].val == "macro" && tag.toks[1].kind == tokIdent {
			macros[tag.toks[1].val] = nil
		}
	}
	top := &macroScope{}
	scopes = []*macroScope{top}
	stack := []*macroScope{top}
	for _, tag := range tags {
		toks, first := tag.toks, 0
		var params []bool // for a macro tag: which tokens declare a parameter
		if tag.block && len(toks) > 0 {
			first = 1 // the tag's name
			switch toks[0].val {
			case "macro":
				if len(toks) < 2 || toks[1].kind != tokIdent {
					continue // pongo2 refuses it
				}
				s := macros[toks[1].val]
				if s == nil {
					s = &macroScope{name: toks[1].val}
					macros[s.name] = s
					scopes = append(scopes, s)
				}
				// Parameters are the names right after "(" or "," at
				// depth 1; their defaults are evaluated at each call, in
				// the macro's own scope, which starts here.
				params = make([]bool, len(toks))
				depth := 0
				for i := 2; i < len(toks); i++ {
					switch toks[i].val {
					case "(", "[":
						depth++
					case ")", "]":
						depth--
					}
					if toks[i].kind == tokIdent && depth == 1 && (toks[i-1].val == "(" || toks[i-1].val == ",") {
						params[i] = true
						s.params = append(s.params, toks[i].val)
					}
				}
				stack = append(stack, s)
				first = 2
			case "endmacro":
				if len(stack) > 1 {
					stack = stack[:len(stack)-1]
				}
				continue
			}
		}
		cur := stack[len(stack)-1]
		for i := first; i < len(toks); i++ {
			tok := toks[i]
			if tok.kind != tokIdent || params != nil && params[i] {
				continue
			}
			if _, ok := macros[tok.val]; !ok {
				continue
			}
			if i > 0 && (toks[i-1].val == "." || toks[i-1].val == "|") {
				continue
			}
			// A default is evaluated where the macro was defined: the
			// macro's own parameters do not hide anything in it.
			visible := stack
			if params != nil {
				visible = stack[:len(stack)-1]
			}
			if shadowed(visible, tok.val) {
				continue
			}
			cur.calls = append(cur.calls, macroCall{callee: tok.val, at: tok})
		}
	}
	return scopes, macros
}

// shadowed says whether a parameter of an enclosing macro hides the
// macro called name.
func shadowed(stack []*macroScope, name string) bool {
	for _, s := range stack {
		if slices.Contains(s.params, name) {
			return true
		}
	}
	return false
}

// checkMacros refuses macros that call themselves, directly or through
// others, and scopes whose calls expand to more than
// MaxMacroCalls calls.
func checkMacros(tags []lexTag) *SyntaxError {
	scopes, macros := macroGraph(tags)
	// Depth-first search for a call back into a macro on the path.
	const (
		unvisited = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(s *macroScope) *SyntaxError
	visit = func(s *macroScope) *SyntaxError {
		state[s.name] = onPath
		path = append(path, s.name)
		for _, c := range s.calls {
			switch state[c.callee] {
			case onPath:
				cycle := append(slices.Clone(path[slices.Index(path, c.callee):]), c.callee)
				how := "calls itself"
				if len(cycle) > 2 {
					how += " through " + strings.Join(cycle[1:len(cycle)-1], ", ")
				}
				return unbounded(c.at, "macro %s %s (%s): it would recurse until the renderer's stack overflows, which crashes LXD; builder refuses recursive macros", c.callee, how, strings.Join(cycle, " → "))
			case unvisited:
				if err := visit(macros[c.callee]); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[s.name] = done
		return nil
	}
	for _, s := range scopes[1:] {
		if state[s.name] == unvisited {
			if err := visit(s); err != nil {
				return err
			}
		}
	}
	// No cycles: count each scope's expansion, callees first.
	expansion := map[string]int{}
	var count func(s *macroScope) (int, *SyntaxError)
	count = func(s *macroScope) (int, *SyntaxError) {
		if n, ok := expansion[s.name]; ok && s.name != "" {
			return n, nil
		}
		total := 1
		for _, c := range s.calls {
			n, err := count(macros[c.callee])
			if err != nil {
				return 0, err
			}
			if total += n; total > MaxMacroCalls {
				return 0, unbounded(c.at, "this call makes the macro calls of %s expand to more than %d macro calls; builder refuses templates whose macros multiply like this", scopeName(s), MaxMacroCalls)
			}
		}
		expansion[s.name] = total
		return total, nil
	}
	// In source order, so the first scope to overflow is the one named.
	for _, s := range slices.Concat(scopes[1:], scopes[:1]) {
		if _, err := count(s); err != nil {
			return err
		}
	}
	return nil
}

func scopeName(s *macroScope) string {
	if s.name == "" {
		return "the template"
	}
	return "macro " + s.name
}
