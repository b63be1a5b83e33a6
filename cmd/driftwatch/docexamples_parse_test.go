package main

// The pure half of the documentation checks (docexamples_test.go runs
// them): reading Markdown into fenced code blocks with their example
// markers, headings and links; splitting a block into commands; splitting
// a command line into words as a shell would; GitHub's heading slugs.
//
// A block that invokes driftwatch carries a marker, an HTML comment on
// the line(s) just before its fence:
//
//	<!-- example: illustrative: REASON -->
//	<!-- example: run setup=NAME [exit=N[,N...]] [output=check] -->

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	File   string   // the file's path as the problems name it
	Line   int      // the opening fence's line, from 1
	Info   string   // the fence's info string ("console", "sh", "")
	Lines  []string // the content, without the fence's indentation
	Marker *exampleMarker
}

func (b docBlock) where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

// exampleMarker is what a block's example comment says about it.
type exampleMarker struct {
	Line int
	// Illustrative is the reason the block is not run; "" for a run marker.
	Illustrative string
	Setup        string // the cluster the block runs against
	// Exit is the exit code of each driftwatch command in order; one value
	// applies to all. Empty means 0.
	Exit        []int
	CheckOutput bool // output=check: compare console output
}

// docLink is one link of a Markdown file, as written.
type docLink struct {
	Line   int
	Target string
}

// markdownDoc is what scanMarkdown reads from one file.
type markdownDoc struct {
	Blocks  []docBlock
	Links   []docLink
	Anchors []string // heading slugs, then explicit <a name/id> anchors
	// Problems are markers that are malformed or mark no block, and
	// unclosed fences, each "file:line: what".
	Problems []string
}

const markerPrefix = "example:"

var (
	fenceRe       = regexp.MustCompile("^( *)(`{3,}|~{3,})(.*)$")
	atxRe         = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`)
	setextRe      = regexp.MustCompile(`^ {0,3}(=+|-+)[ \t]*$`)
	anchorRe      = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	linkRe        = regexp.MustCompile(`!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	refDefRe      = regexp.MustCompile(`^ {0,3}\[([^\]]+)\]:\s*(<[^>]*>|\S+)`)
	codeRe        = regexp.MustCompile("(`+)(?:.*?)(?:`+)")
	orderedItemRe = regexp.MustCompile(`^\d+[.)]\s`)
	nameRe        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	invokesRe     = regexp.MustCompile(`^(?:\$ +)?(?:[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|[^\s"'])*\s+)*(?:driftwatch|bin/driftwatch|\./bin/driftwatch|kubectl drift)(?:\s|$)`)
)

// scanMarkdown reads the fenced code blocks (with their markers), links,
// headings and anchors of one Markdown file. Links and headings inside
// code blocks, code spans and HTML comments are not read.
func scanMarkdown(file, src string) markdownDoc {
	var doc markdownDoc
	problem := func(line int, format string, args ...any) {
		doc.Problems = append(doc.Problems, fmt.Sprintf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var (
		pending   *exampleMarker // a marker waiting for its block
		block     *docBlock
		fence     string // the open fence's run of ` or ~
		indent    int
		comment   []string // an HTML comment being read, from its line
		commentAt int
		headings  []string
		prevText  string   // the previous line, when it could be a setext heading's text
		para      []string // the lines of a paragraph, code spans blanked
		paraAt    int
	)
	// Links are read from whole paragraphs: a link's text may span lines.
	flush := func() {
		text := strings.Join(para, "\n")
		for _, m := range linkRe.FindAllStringSubmatchIndex(text, -1) {
			target := text[m[4]:m[5]]
			if strings.TrimSpace(target) == "" {
				continue // a code span blanked, or [x]()
			}
			line := paraAt + strings.Count(text[:m[0]], "\n")
			doc.Links = append(doc.Links, docLink{Line: line, Target: strings.Trim(target, "<>")})
		}
		para = nil
	}
	for i, line := range lines {
		n := i + 1
		if block != nil {
			if m := fenceRe.FindStringSubmatch(line); m != nil && len(m[1]) <= 3+indent &&
				m[2][0] == fence[0] && len(m[2]) >= len(fence) && strings.TrimSpace(m[3]) == "" {
				doc.Blocks = append(doc.Blocks, *block)
				block = nil
				continue
			}
			// The content loses as much indentation as the fence had.
			cut := 0
			for cut < indent && cut < len(line) && line[cut] == ' ' {
				cut++
			}
			block.Lines = append(block.Lines, line[cut:])
			continue
		}
		if block == nil && comment == nil && para != nil && (strings.TrimSpace(line) == "" || fenceRe.MatchString(line) || strings.HasPrefix(strings.TrimLeft(line, " \t"), "<!--")) {
			flush()
		}
		if comment != nil {
			comment = append(comment, line)
			if strings.Contains(line, "-->") {
				pending = endComment(comment, commentAt, pending, problem)
				comment = nil
			}
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		if m := fenceRe.FindStringSubmatch(line); m != nil && !(m[2][0] == '`' && strings.Contains(m[3], "`")) {
			block = &docBlock{File: file, Line: n, Info: strings.TrimSpace(m[3]), Marker: pending}
			fence, indent, pending, prevText = m[2], len(m[1]), nil, ""
			continue
		}
		if strings.HasPrefix(trimmed, "<!--") {
			comment, commentAt = []string{line}, n
			if strings.Contains(line, "-->") {
				pending = endComment(comment, commentAt, pending, problem)
				comment = nil
			}
			prevText = ""
			continue
		}
		if trimmed == "" {
			prevText = ""
			continue
		}
		if pending != nil {
			problem(pending.Line, "example marker is not followed by a fenced code block")
			pending = nil
		}
		text := codeRe.ReplaceAllStringFunc(line, func(s string) string { return strings.Repeat(" ", len(s)) })
		for _, m := range anchorRe.FindAllStringSubmatch(line, -1) {
			doc.Anchors = append(doc.Anchors, m[1])
		}
		if m := atxRe.FindStringSubmatch(line); m != nil {
			headings = append(headings, m[2])
			prevText = ""
			flush()
			para, paraAt = []string{text}, n
			flush()
			continue
		} else if m := setextRe.FindStringSubmatch(line); m != nil && prevText != "" {
			headings = append(headings, prevText)
			prevText = ""
			flush()
			continue
		} else if m := refDefRe.FindStringSubmatch(text); m != nil {
			flush()
			doc.Links = append(doc.Links, docLink{Line: n, Target: strings.Trim(m[2], "<>")})
			prevText = ""
			continue
		}
		prevText = ""
		if !strings.ContainsAny(trimmed[:1], "-*+>|<") && !orderedItemRe.MatchString(trimmed) {
			prevText = strings.TrimSpace(line)
		}
		if para == nil {
			paraAt = n
		}
		para = append(para, text)
	}
	flush()
	if block != nil {
		problem(block.Line, "code block is never closed")
	}
	if comment != nil {
		problem(commentAt, "HTML comment is never closed")
	}
	if pending != nil {
		problem(pending.Line, "example marker is not followed by a fenced code block")
	}
	doc.Anchors = append(headingSlugs(headings), doc.Anchors...)
	return doc
}

// endComment reads a finished HTML comment: an example marker becomes the
// pending one (a marker still pending marked no block).
func endComment(lines []string, at int, pending *exampleMarker, problem func(int, string, ...any)) *exampleMarker {
	body := strings.Join(lines, " ")
	body = body[strings.Index(body, "<!--")+4:]
	body = strings.TrimSpace(body[:strings.Index(body, "-->")])
	if !strings.HasPrefix(body, markerPrefix) {
		return pending
	}
	if pending != nil {
		problem(pending.Line, "example marker is not followed by a fenced code block")
	}
	m, err := parseMarker(strings.TrimSpace(strings.TrimPrefix(body, markerPrefix)))
	if err != nil {
		problem(at, "example marker: %v", err)
		return nil
	}
	m.Line = at
	return m
}

// parseMarker reads what follows "example:" in a marker.
func parseMarker(s string) (*exampleMarker, error) {
	kind, rest, _ := strings.Cut(s, " ")
	if r, ok := strings.CutPrefix(s, "illustrative:"); ok {
		reason := strings.Join(strings.Fields(r), " ")
		if reason == "" {
			return nil, fmt.Errorf("illustrative: without a reason (want <!-- example: illustrative: REASON -->)")
		}
		return &exampleMarker{Illustrative: reason}, nil
	}
	if kind != "run" {
		return nil, fmt.Errorf("%q is neither \"illustrative: REASON\" nor \"run setup=NAME ...\"", s)
	}
	m := &exampleMarker{}
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("%q: want key=value (setup=, exit=, output=)", f)
		}
		switch k {
		case "setup":
			m.Setup = v
		case "exit":
			for _, c := range strings.Split(v, ",") {
				code, err := strconv.Atoi(c)
				if err != nil || code < 0 || code > 255 {
					return nil, fmt.Errorf("exit=%s: %q is not an exit code", v, c)
				}
				m.Exit = append(m.Exit, code)
			}
		case "output":
			if v != "check" {
				return nil, fmt.Errorf("output=%s: the only value is check", v)
			}
			m.CheckOutput = true
		default:
			return nil, fmt.Errorf("unknown key %q (want setup=, exit=, output=)", k)
		}
	}
	if m.Setup == "" {
		return nil, fmt.Errorf("run without setup=NAME")
	}
	return m, nil
}

// invokesDriftwatch says whether a block runs driftwatch: a line that,
// after an optional "$ " prompt and VAR=value assignments, starts with
// driftwatch, bin/driftwatch, ./bin/driftwatch or kubectl drift.
func invokesDriftwatch(b docBlock) bool {
	return slices.ContainsFunc(b.Lines, invokesRe.MatchString)
}

// exampleCommand is one command line of a block, continuation lines
// joined, with the output a console block shows after it.
type exampleCommand struct {
	Line   int // in the Markdown file
	Text   string
	Output []string
}

// splitBlock splits a block into its commands. In a console block (a
// line starts with "$ ") the prompted lines are commands and the lines
// after each are its output; otherwise every line that is not blank or a
// comment is a command. A trailing \ continues a line.
func splitBlock(b docBlock) []exampleCommand {
	console := slices.ContainsFunc(b.Lines, func(l string) bool { return strings.HasPrefix(l, "$ ") || l == "$" })
	var cmds []exampleCommand
	for i := 0; i < len(b.Lines); i++ {
		line := b.Lines[i]
		if console {
			if !strings.HasPrefix(line, "$ ") && line != "$" {
				if len(cmds) > 0 {
					cmds[len(cmds)-1].Output = append(cmds[len(cmds)-1].Output, line)
				}
				continue
			}
			line = strings.TrimPrefix(strings.TrimPrefix(line, "$"), " ")
		} else if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := exampleCommand{Line: b.Line + 1 + i}
		for strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) && i+1 < len(b.Lines) {
			c.Text += strings.TrimSuffix(line, `\`)
			i++
			line = b.Lines[i]
		}
		c.Text = strings.TrimSpace(c.Text + line)
		if c.Text != "" {
			cmds = append(cmds, c)
		}
	}
	// A console block's output ends at its last non-blank line.
	for i := range cmds {
		for len(cmds[i].Output) > 0 && strings.TrimSpace(cmds[i].Output[len(cmds[i].Output)-1]) == "" {
			cmds[i].Output = cmds[i].Output[:len(cmds[i].Output)-1]
		}
	}
	return cmds
}

// shellCommand is a command line split into words.
type shellCommand struct {
	Env    []string // NAME=value assignments before the program
	Args   []string // the program and its arguments
	Stdout string   // > FILE
	Append bool     // >> FILE
}

// splitCommand splits a command line into words the way sh would for the
// subset examples use: blanks separate words; '...' is literal; "..."
// keeps blanks and expands variables, with \ escaping " \ $ and `; a \
// outside quotes escapes the next character; $NAME, ${NAME} and $? expand
// through lookup; ~ at the start of a word is $HOME; a word starting with
// # starts a comment; leading NAME=value words are assignments; > FILE and
// >> FILE redirect the output. Pipes, lists, other redirections, command
// substitution are errors: a block needing them is illustrative. Glob
// characters stay as they are (as sh leaves a pattern that matches
// nothing).
func splitCommand(line string, lookup func(string) (string, bool)) (shellCommand, error) {
	type word struct {
		text string
		op   bool // an unquoted > or >>
		// quoteAt is where quoting or expansion first began in text, -1
		// if nowhere: NAME=value is an assignment only when NAME= is
		// plain text.
		quoteAt int
	}
	var (
		words   []word
		cur     strings.Builder
		in      bool // inside a word
		quoteAt = -1
	)
	quote := func() {
		if quoteAt < 0 {
			quoteAt = cur.Len()
		}
	}
	end := func() {
		if in {
			words = append(words, word{text: cur.String(), quoteAt: quoteAt})
		}
		cur.Reset()
		in, quoteAt = false, -1
	}
	expand := func(i int) (int, error) {
		// line[i] == '$'
		rest := line[i+1:]
		var name string
		switch {
		case strings.HasPrefix(rest, "?"):
			name = "?"
		case strings.HasPrefix(rest, "{"):
			j := strings.IndexByte(rest, '}')
			if j < 0 {
				return 0, fmt.Errorf("unclosed ${")
			}
			name = rest[1:j]
			if !nameRe.MatchString(name) {
				return 0, fmt.Errorf("${%s}: only plain ${NAME} is supported", name)
			}
			v, ok := lookup(name)
			if !ok {
				return 0, fmt.Errorf("variable %s is not set", name)
			}
			cur.WriteString(v)
			return i + 1 + j + 1, nil
		case strings.HasPrefix(rest, "("):
			return 0, fmt.Errorf("command substitution $(...) is not supported")
		default:
			j := 0
			for j < len(rest) && (rest[j] == '_' || unicode.IsLetter(rune(rest[j])) || j > 0 && unicode.IsDigit(rune(rest[j]))) {
				j++
			}
			if j == 0 {
				cur.WriteByte('$')
				return i + 1, nil
			}
			name = rest[:j]
		}
		v, ok := lookup(name)
		if !ok {
			return 0, fmt.Errorf("variable %s is not set", name)
		}
		cur.WriteString(v)
		return i + 1 + len(name), nil
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			end()
			i++
		case c == '#' && !in:
			i = len(line)
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return shellCommand{}, fmt.Errorf("unclosed '")
			}
			quote()
			cur.WriteString(line[i+1 : i+1+j])
			in = true
			i += j + 2
		case c == '"':
			quote()
			in = true
			i++
			for {
				if i >= len(line) {
					return shellCommand{}, fmt.Errorf(`unclosed "`)
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				switch {
				case c == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0:
					cur.WriteByte(line[i+1])
					i += 2
				case c == '$':
					var err error
					if i, err = expand(i); err != nil {
						return shellCommand{}, err
					}
				case c == '`':
					return shellCommand{}, fmt.Errorf("command substitution `...` is not supported")
				default:
					cur.WriteByte(c)
					i++
				}
			}
		case c == '\\':
			quote()
			if i+1 < len(line) {
				cur.WriteByte(line[i+1])
			}
			in = true
			i += 2
		case c == '$':
			quote()
			in = true
			var err error
			if i, err = expand(i); err != nil {
				return shellCommand{}, err
			}
		case c == '>':
			if in && cur.String() != "" && quoteAt < 0 && strings.Trim(cur.String(), "0123456789") == "" {
				return shellCommand{}, fmt.Errorf("redirection %s> is not supported (only > FILE and >> FILE)", cur.String())
			}
			end()
			op := ">"
			if strings.HasPrefix(line[i:], ">>") {
				op = ">>"
			}
			if strings.HasPrefix(line[i+len(op):], "&") {
				return shellCommand{}, fmt.Errorf("redirection %s& is not supported (only > FILE and >> FILE)", op)
			}
			words = append(words, word{text: op, op: true})
			i += len(op)
		case strings.IndexByte("|&;<()`", c) >= 0:
			return shellCommand{}, fmt.Errorf("shell operator %q is not supported", c)
		case c == '~' && !in && (i+1 == len(line) || line[i+1] == '/' || line[i+1] == ' '):
			home, ok := lookup("HOME")
			if !ok {
				return shellCommand{}, fmt.Errorf("~: HOME is not set")
			}
			cur.WriteString(home)
			in = true
			i++
		default:
			cur.WriteByte(c)
			in = true
			i++
		}
	}
	end()
	var cmd shellCommand
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w.op:
			if i+1 >= len(words) || words[i+1].op {
				return shellCommand{}, fmt.Errorf("%s without a file", w.text)
			}
			if cmd.Stdout != "" {
				return shellCommand{}, fmt.Errorf("more than one redirection")
			}
			cmd.Stdout, cmd.Append = words[i+1].text, w.text == ">>"
			i++
		case len(cmd.Args) == 0 && isAssignment(w.text, w.quoteAt):
			cmd.Env = append(cmd.Env, w.text)
		default:
			cmd.Args = append(cmd.Args, w.text)
		}
	}
	return cmd, nil
}

// isAssignment says whether a word is NAME=value, NAME= unquoted.
func isAssignment(w string, quoteAt int) bool {
	name, _, ok := strings.Cut(w, "=")
	return ok && nameRe.MatchString(name) && (quoteAt < 0 || quoteAt > len(name))
}

// A program an example line runs.
const (
	progDriftwatch = "driftwatch"
	progKubectl    = "kubectl"
	progEcho       = "echo"
	progCat        = "cat"
	progExport     = "export"
)

// classify names what a command runs and the arguments it is given:
// driftwatch's arguments without the program (for kubectl drift, without
// "kubectl drift"), otherwise all of them; "" for a program examples
// cannot run.
func classify(args []string) (prog string, rest []string) {
	if len(args) == 0 {
		return "", nil
	}
	switch args[0] {
	case "driftwatch", "bin/driftwatch", "./bin/driftwatch":
		return progDriftwatch, args[1:]
	case "kubectl":
		if len(args) > 1 && args[1] == "drift" {
			return progDriftwatch, args[2:]
		}
		return progKubectl, args[1:]
	case "echo", "cat", "export":
		return args[0], args[1:]
	}
	return "", args
}

// checkRunBlock finds what makes a run block impossible to run before
// running it: commands that do not split, programs examples cannot run,
// an exit= list that does not match the driftwatch commands, an unknown
// setup.
func checkRunBlock(b docBlock, setups []string) []string {
	var problems []string
	if !slices.Contains(setups, b.Marker.Setup) {
		problems = append(problems, fmt.Sprintf("%s:%d: example marker: unknown setup %q (have %s)", b.File, b.Marker.Line, b.Marker.Setup, strings.Join(setups, ", ")))
	}
	cmds := splitBlock(b)
	if len(cmds) == 0 {
		problems = append(problems, fmt.Sprintf("%s: a run block with no command", b.where()))
	}
	anyVar := func(string) (string, bool) { return "x", true }
	n := 0
	for _, c := range cmds {
		sc, err := splitCommand(c.Text, anyVar)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s:%d: %v: mark the block illustrative", b.File, c.Line, err))
			continue
		}
		prog, _ := classify(sc.Args)
		switch {
		case len(sc.Args) == 0:
			// a comment, or assignments (export's)
		case prog == "":
			problems = append(problems, fmt.Sprintf("%s:%d: examples cannot run %s: mark the block illustrative", b.File, c.Line, sc.Args[0]))
		case prog == progDriftwatch:
			n++
		}
	}
	if len(b.Marker.Exit) > 1 && len(b.Marker.Exit) != n {
		problems = append(problems, fmt.Sprintf("%s:%d: example marker: exit= lists %d codes for %d driftwatch commands", b.File, b.Marker.Line, len(b.Marker.Exit), n))
	}
	return problems
}

// expectedExit is the exit code the n-th driftwatch command of a block
// (from 0) must return.
func (m *exampleMarker) expectedExit(n int) int {
	switch {
	case len(m.Exit) == 0:
		return 0
	case len(m.Exit) == 1:
		return m.Exit[0]
	case n < len(m.Exit):
		return m.Exit[n]
	}
	return -1
}

// checkMarkers lists the problems of one file's examples: blocks that
// invoke driftwatch without a marker, and run blocks that cannot run.
func checkMarkers(doc markdownDoc, setups []string) []string {
	problems := slices.Clone(doc.Problems)
	for _, b := range doc.Blocks {
		switch {
		case b.Marker == nil && invokesDriftwatch(b):
			problems = append(problems, fmt.Sprintf("%s: this block invokes driftwatch but has no example marker: add <!-- example: run setup=NAME exit=N --> or <!-- example: illustrative: REASON --> on the line before it", b.where()))
		case b.Marker != nil && b.Marker.Illustrative == "":
			problems = append(problems, checkRunBlock(b, setups)...)
		}
	}
	return problems
}

// Output normalisation: what differs run to run.
var outputNorms = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`), "<time>"},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})? UTC\b`), "<time>"},
	{regexp.MustCompile(`\bhmac:[0-9a-f]{12}\b`), "hmac:<hash>"},
	{regexp.MustCompile(`\b[0-9a-f]{40}\b`), "<sha>"},
	{regexp.MustCompile(`\b[0-9a-f]{12}\b`), "<sha>"},
	{regexp.MustCompile(`https://[A-Za-z0-9.\-]+:\d+(?:/?([\s)"',]|$)|(/))`), "<server>$1$2"},
}

// normalizeOutput replaces times, commit SHAs, hmac hashes and the API
// server's URL with placeholders, and drops trailing blanks.
func normalizeOutput(line string) string {
	for _, n := range outputNorms {
		line = n.re.ReplaceAllString(line, n.with)
	}
	return strings.TrimRight(line, " \t")
}

// matchOutput compares a console block's expected output with what a
// command printed, after normalisation: an expected line containing "..."
// stands for any number of lines.
func matchOutput(want, got []string) bool {
	norm := func(ls []string) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			out[i] = normalizeOutput(l)
		}
		for len(out) > 0 && out[len(out)-1] == "" {
			out = out[:len(out)-1]
		}
		return out
	}
	w, g := norm(want), norm(got)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(w) {
			return j == len(g)
		}
		if strings.Contains(w[i], "...") {
			for k := j; k <= len(g); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		}
		return j < len(g) && w[i] == g[j] && match(i+1, j+1)
	}
	return match(0, 0)
}

// headingSlugs gives each heading the anchor GitHub gives it: the text
// without its markup, lowercased, punctuation but - and _ removed, each
// space a -; a repeated slug gets -1, -2, ...
func headingSlugs(headings []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range headings {
		base := slugify(h)
		s := base
		for n := 1; seen[s]; n++ {
			s = fmt.Sprintf("%s-%d", base, n)
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

var (
	slugLinkRe = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	slugTagRe  = regexp.MustCompile(`<[^>]+>`)
)

// slugify is GitHub's anchor for one heading's text.
func slugify(heading string) string {
	text := slugLinkRe.ReplaceAllString(heading, "$1")
	text = slugTagRe.ReplaceAllString(text, "")
	text = strings.ToLower(strings.TrimSpace(text))
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var lineFragmentRe = regexp.MustCompile(`^L\d+(?:-L\d+)?$`)

// linkChecker checks the links of Markdown files in one repository,
// reading each target's anchors once.
type linkChecker struct {
	root    string // the repository, as a directory
	anchors map[string][]string
}

// check returns the problems of one file's links ("" target file is the
// file itself), and how many links it checked. file is relative to root,
// with slashes.
func (lc *linkChecker) check(file string, doc markdownDoc) (checked int, problems []string) {
	if lc.anchors == nil {
		lc.anchors = map[string][]string{}
	}
	lc.anchors[file] = doc.Anchors
	for _, l := range doc.Links {
		checked++
		if p := lc.checkOne(file, l.Target); p != "" {
			problems = append(problems, fmt.Sprintf("%s:%d: link %s: %s", file, l.Line, l.Target, p))
		}
	}
	return checked, problems
}

func (lc *linkChecker) checkOne(file, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Sprintf("does not parse: %v", err)
	}
	if u.Scheme != "" {
		if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
			return "a URL without a host"
		}
		return "" // not fetched: no network here
	}
	rel := u.Path
	var to string
	switch {
	case rel == "":
		to = file
	case strings.HasPrefix(rel, "/"):
		to = path.Clean(strings.TrimPrefix(rel, "/"))
	default:
		to = path.Clean(path.Join(path.Dir(file), rel))
	}
	if to == ".." || strings.HasPrefix(to, "../") {
		return "points outside the repository"
	}
	st, err := os.Stat(filepath.Join(lc.root, filepath.FromSlash(to)))
	if err != nil {
		return fmt.Sprintf("no such file or directory %s", to)
	}
	if u.Fragment == "" {
		return ""
	}
	switch {
	case st.IsDir():
		return "a fragment on a directory"
	case !strings.HasSuffix(to, ".md"):
		if lineFragmentRe.MatchString(u.Fragment) {
			return ""
		}
		return fmt.Sprintf("#%s on a file that is not Markdown (only #L10 or #L10-L20)", u.Fragment)
	}
	anchors, ok := lc.anchors[to]
	if !ok {
		b, err := os.ReadFile(filepath.Join(lc.root, filepath.FromSlash(to)))
		if err != nil {
			return err.Error()
		}
		anchors = scanMarkdown(to, string(b)).Anchors
		lc.anchors[to] = anchors
	}
	if !slices.Contains(anchors, u.Fragment) {
		return fmt.Sprintf("%s has no heading with the anchor #%s", to, u.Fragment)
	}
	return ""
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "docexamples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDocExamplesScanMarkers(t *testing.T) {
	doc := scanMarkdown("markers.md", readFixture(t, "markers.md"))
	var got []string
	for _, b := range doc.Blocks {
		m := "none"
		switch {
		case b.Marker == nil:
		case b.Marker.Illustrative != "":
			m = fmt.Sprintf("illustrative %q (line %d)", b.Marker.Illustrative, b.Marker.Line)
		default:
			m = fmt.Sprintf("run setup=%s exit=%v check=%v (line %d)", b.Marker.Setup, b.Marker.Exit, b.Marker.CheckOutput, b.Marker.Line)
		}
		got = append(got, fmt.Sprintf("%s %q %d lines, marker %s, invokes %v", b.where(), b.Info, len(b.Lines), m, invokesDriftwatch(b)))
	}
	want := []string{
		`markers.md:6 "console" 4 lines, marker run setup=demo exit=[1] check=true (line 5), invokes true`,
		`markers.md:17 "sh" 1 lines, marker illustrative "a public URL, and a private token" (line 15), invokes true`,
		`markers.md:23 "" 1 lines, marker none, invokes true`,
		`markers.md:31 "sh" 1 lines, marker none, invokes true`,
		`markers.md:37 "yaml" 2 lines, marker none, invokes false`,
		`markers.md:44 "" 2 lines, marker none, invokes false`,
		`markers.md:50 "" 1 lines, marker none, invokes true`,
		`markers.md:55 "" 1 lines, marker none, invokes true`,
		`markers.md:64 "console" 3 lines, marker run setup=nowhere exit=[0 1] check=false (line 63), invokes true`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
	// The fence's indentation is not the content's.
	if diff := cmp.Diff([]string{"kubectl drift check --dir . -n prod"}, doc.Blocks[3].Lines); diff != "" {
		t.Errorf("block in a list item (-want +got):\n%s", diff)
	}
	wantProblems := []string{
		`markers.md:49: example marker: run without setup=NAME`,
		`markers.md:54: example marker: "sometimes" is neither "illustrative: REASON" nor "run setup=NAME ..."`,
		`markers.md:59: example marker is not followed by a fenced code block`,
		`markers.md:71: code block is never closed`,
		`markers.md:23: this block invokes driftwatch but has no example marker: add <!-- example: run setup=NAME exit=N --> or <!-- example: illustrative: REASON --> on the line before it`,
		`markers.md:31: this block invokes driftwatch but has no example marker: add <!-- example: run setup=NAME exit=N --> or <!-- example: illustrative: REASON --> on the line before it`,
		`markers.md:50: this block invokes driftwatch but has no example marker: add <!-- example: run setup=NAME exit=N --> or <!-- example: illustrative: REASON --> on the line before it`,
		`markers.md:55: this block invokes driftwatch but has no example marker: add <!-- example: run setup=NAME exit=N --> or <!-- example: illustrative: REASON --> on the line before it`,
		`markers.md:63: example marker: unknown setup "nowhere" (have none, demo, demo-drifted, adopt, revert)`,
		`markers.md:66: examples cannot run jq: mark the block illustrative`,
		`markers.md:63: example marker: exit= lists 2 codes for 1 driftwatch commands`,
	}
	if diff := cmp.Diff(wantProblems, checkMarkers(doc, docSetupNames())); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDocExamplesParseMarker(t *testing.T) {
	tests := []struct {
		in   string
		want *exampleMarker
		err  string
	}{
		{in: "run setup=none", want: &exampleMarker{Setup: "none"}},
		{in: "run setup=demo exit=1,0,2 output=check", want: &exampleMarker{Setup: "demo", Exit: []int{1, 0, 2}, CheckOutput: true}},
		{in: "illustrative:   needs\tyour  cluster ", want: &exampleMarker{Illustrative: "needs your cluster"}},
		{in: "illustrative:", err: "illustrative: without a reason (want <!-- example: illustrative: REASON -->)"},
		{in: "illustrative a daemon", err: `"illustrative a daemon" is neither "illustrative: REASON" nor "run setup=NAME ..."`},
		{in: "run", err: "run without setup=NAME"},
		{in: "run setup=demo exit=one", err: `exit=one: "one" is not an exit code`},
		{in: "run setup=demo exit=", err: `"exit=": want key=value (setup=, exit=, output=)`},
		{in: "run setup=demo output=ignore", err: "output=ignore: the only value is check"},
		{in: "run setup=demo timeout=5", err: `unknown key "timeout" (want setup=, exit=, output=)`},
	}
	for _, tt := range tests {
		got, err := parseMarker(tt.in)
		if errString(err) != tt.err {
			t.Errorf("%q: error %q, want %q", tt.in, errString(err), tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestDocExamplesSplitBlock(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []exampleCommand
	}{
		{
			name: "console",
			lines: []string{
				"$ driftwatch adopt --dir . \\",
				"    --write   # into the work tree",
				"adopted it",
				"",
				"$ echo $?",
				"0",
				"",
			},
			want: []exampleCommand{
				{Line: 11, Text: "driftwatch adopt --dir .     --write   # into the work tree", Output: []string{"adopted it"}},
				{Line: 15, Text: "echo $?", Output: []string{"0"}},
			},
		},
		{
			name: "sh",
			lines: []string{
				"# build first",
				"export DRIFTWATCH_NAMESPACE=demo",
				"",
				"  driftwatch check --dir testdata/demo \\",
				"  --path overlays/prod",
				"echo $?   # 1",
			},
			want: []exampleCommand{
				{Line: 12, Text: "export DRIFTWATCH_NAMESPACE=demo"},
				{Line: 14, Text: "driftwatch check --dir testdata/demo   --path overlays/prod"},
				{Line: 16, Text: "echo $?   # 1"},
			},
		},
		{
			name:  "output before any prompt is ignored",
			lines: []string{"stray", "$ driftwatch version"},
			want:  []exampleCommand{{Line: 12, Text: "driftwatch version"}},
		},
	}
	for _, tt := range tests {
		got := splitBlock(docBlock{File: "x.md", Line: 10, Lines: tt.lines})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestDocExamplesSplitCommand(t *testing.T) {
	vars := map[string]string{"?": "1", "X": "x", "HOME": "/home/me", "SPACED": "a b"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct {
		line string
		want shellCommand
		err  string
	}{
		{line: "driftwatch check --dir testdata/demo", want: shellCommand{Args: []string{"driftwatch", "check", "--dir", "testdata/demo"}}},
		{line: "DRIFTWATCH_NAMESPACE=prod  A=1 driftwatch check B=2", want: shellCommand{Env: []string{"DRIFTWATCH_NAMESPACE=prod", "A=1"}, Args: []string{"driftwatch", "check", "B=2"}}},
		{line: `X="a b" driftwatch`, want: shellCommand{Env: []string{"X=a b"}, Args: []string{"driftwatch"}}},
		{line: `"X=1" driftwatch`, want: shellCommand{Args: []string{"X=1", "driftwatch"}}},
		{line: `driftwatch --path 'a $X b' "c $X d" e\ f g"h"'i'`, want: shellCommand{Args: []string{"driftwatch", "--path", "a $X b", "c x d", "e f", "ghi"}}},
		{line: `echo "a\"b\\c\d" ${X}y $SPACED $ $?`, want: shellCommand{Args: []string{"echo", `a"b\c\d`, "xy", "a b", "$", "1"}}},
		{line: "driftwatch check -o json > drift.json", want: shellCommand{Args: []string{"driftwatch", "check", "-o", "json"}, Stdout: "drift.json"}},
		{line: "driftwatch check>>log '>'", want: shellCommand{Args: []string{"driftwatch", "check", ">"}, Stdout: "log", Append: true}},
		{line: "driftwatch check   # a comment 'unclosed", want: shellCommand{Args: []string{"driftwatch", "check"}}},
		{line: "driftwatch adopt --field spec.containers[name=app].image --kind * a#b", want: shellCommand{Args: []string{"driftwatch", "adopt", "--field", "spec.containers[name=app].image", "--kind", "*", "a#b"}}},
		{line: "cat ~/x ~ a~", want: shellCommand{Args: []string{"cat", "/home/me/x", "/home/me", "a~"}}},
		{line: "# only a comment", want: shellCommand{}},
		{line: "driftwatch check | jq .", err: `shell operator '|' is not supported`},
		{line: "make build && driftwatch check", err: `shell operator '&' is not supported`},
		{line: "driftwatch check; echo", err: `shell operator ';' is not supported`},
		{line: "driftwatch check 2>/dev/null", err: "redirection 2> is not supported (only > FILE and >> FILE)"},
		{line: "driftwatch check >&2", err: "redirection >& is not supported (only > FILE and >> FILE)"},
		{line: "driftwatch check >", err: "> without a file"},
		{line: "driftwatch check > a > b", err: "more than one redirection"},
		{line: "echo $(date)", err: "command substitution $(...) is not supported"},
		{line: "echo \"`date`\"", err: "command substitution `...` is not supported"},
		{line: "echo $NOPE", err: "variable NOPE is not set"},
		{line: "echo ${NOPE}", err: "variable NOPE is not set"},
		{line: "echo ${X:-y}", err: "${X:-y}: only plain ${NAME} is supported"},
		{line: `echo "unclosed`, err: `unclosed "`},
		{line: `echo 'unclosed`, err: `unclosed '`},
	}
	for _, tt := range tests {
		got, err := splitCommand(tt.line, lookup)
		if errString(err) != tt.err {
			t.Errorf("%s: error %q, want %q", tt.line, errString(err), tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.line, diff)
		}
	}
}

func TestDocExamplesClassify(t *testing.T) {
	tests := []struct {
		args []string
		prog string
		rest []string
	}{
		{[]string{"driftwatch", "version"}, progDriftwatch, []string{"version"}},
		{[]string{"bin/driftwatch", "check"}, progDriftwatch, []string{"check"}},
		{[]string{"./bin/driftwatch"}, progDriftwatch, []string{}},
		{[]string{"kubectl", "drift", "check", "-n", "prod"}, progDriftwatch, []string{"check", "-n", "prod"}},
		{[]string{"kubectl", "-n", "shop", "get", "deploy"}, progKubectl, []string{"-n", "shop", "get", "deploy"}},
		{[]string{"echo", "$?"}, progEcho, []string{"$?"}},
		{[]string{"cat", "drift.json"}, progCat, []string{"drift.json"}},
		{[]string{"export", "A=1"}, progExport, []string{"A=1"}},
		{[]string{"jq", "."}, "", []string{"jq", "."}},
		{nil, "", nil},
	}
	for _, tt := range tests {
		prog, rest := classify(tt.args)
		if prog != tt.prog {
			t.Errorf("%q: program %q, want %q", tt.args, prog, tt.prog)
		}
		if diff := cmp.Diff(tt.rest, rest); diff != "" {
			t.Errorf("%q: arguments (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestDocExamplesMatchOutput(t *testing.T) {
	got := []string{
		"Source:  testdata/demo (path overlays/prod)",
		"Cluster: https://127.0.0.1:37411/ (context prod)",
		"  ~ spec.replicas: desired 3, live 5  [kubectl-edit Update 2026-12-01 09:13:02 UTC]",
		"  ~ data.password: differs (desired hmac:0123456789ab, live hmac:ba9876543210)   ",
		"Commit:  5f0c2d1e9a7b \"prod\" (2026-12-01 09:13 UTC) at 2026-12-01T09:13:02.25+01:00",
		"7 resources: 5 in sync, 1 drifted, 1 missing, 0 errors",
		"",
	}
	tests := []struct {
		name string
		want []string
		ok   bool
	}{
		{"all of it, normalised", []string{
			"Source:  testdata/demo (path overlays/prod)",
			"Cluster: https://10.0.0.1:6443 (context prod)",
			"  ~ spec.replicas: desired 3, live 5  [kubectl-edit Update 2026-11-24 22:42:10 UTC]",
			"  ~ data.password: differs (desired hmac:3f1c0e9a2b7d, live hmac:91aa04c7e310)",
			"Commit:  f7d64d16c279 \"prod\" (2026-11-24 22:42 UTC) at 2026-11-24T22:42:10Z",
			"7 resources: 5 in sync, 1 drifted, 1 missing, 0 errors",
		}, true},
		{"elided", []string{"Source:  testdata/demo (path overlays/prod)", "...", "7 resources: 5 in sync, 1 drifted, 1 missing, 0 errors"}, true},
		{"elided at both ends", []string{"...", "  ~ spec.replicas: desired 3, live 5  [kubectl-edit Update 2026-11-24 22:42:10 UTC]", "  ..."}, true},
		{"only elided", []string{"..."}, true},
		{"a line differs", []string{"...", "7 resources: 6 in sync, 0 drifted, 1 missing, 0 errors"}, false},
		{"a line too many", []string{"...", "7 resources: 5 in sync, 1 drifted, 1 missing, 0 errors", "more"}, false},
		{"nothing expected", nil, false},
	}
	for _, tt := range tests {
		if ok := matchOutput(tt.want, got); ok != tt.ok {
			t.Errorf("%s: match %v, want %v", tt.name, ok, tt.ok)
		}
	}
	if !matchOutput(nil, []string{""}) {
		t.Error("no output expected, a blank line printed: no match")
	}
}

func TestDocExamplesSlugs(t *testing.T) {
	doc := scanMarkdown("target.md", readFixture(t, "target.md"))
	want := []string{"target", "first-section", "first-section-1", "code-and-links", "whats-new-v12--v2_0", "setext-heading", "explicit-anchor"}
	if diff := cmp.Diff(want, doc.Anchors); diff != "" {
		t.Errorf("anchors (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "a-1", "a-1-1", "a-2"}, headingSlugs([]string{"A", "A", "a-1", "A"})); diff != "" {
		t.Errorf("repeated headings (-want +got):\n%s", diff)
	}
}

func TestDocExamplesLinks(t *testing.T) {
	const file = "cmd/driftwatch/testdata/docexamples/links.md"
	lc := &linkChecker{root: filepath.Join("..", "..")}
	checked, got := lc.check(file, scanMarkdown(file, readFixture(t, "links.md")))
	want := []string{
		file + ":5: link #nowhere: cmd/driftwatch/testdata/docexamples/links.md has no heading with the anchor #nowhere",
		file + ":14: link missing.md: no such file or directory cmd/driftwatch/testdata/docexamples/missing.md",
		file + ":14: link target.md#no-such-heading: cmd/driftwatch/testdata/docexamples/target.md has no heading with the anchor #no-such-heading",
		file + ":17: link https://: a URL without a host",
		file + ":17: link ../../../../../outside.md: points outside the repository",
		file + ":18: link sub/picture.txt#top: #top on a file that is not Markdown (only #L10 or #L10-L20)",
		file + ":23: link missing-too.md: no such file or directory cmd/driftwatch/testdata/docexamples/missing-too.md",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if checked != 19 {
		t.Errorf("checked %d links, want 19", checked)
	}
}
