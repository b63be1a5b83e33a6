package drift

import (
	"fmt"
	"strconv"
	"strings"
)

// PathPattern selects a field and everything below it. It is written either
// in the report's path syntax or as a JSON pointer:
//
//	spec.replicas
//	spec.template.spec.containers[name=app].image
//	spec.template.spec.containers[*].image
//	metadata.annotations["example.com/owner"]
//	/spec/template/spec/containers/0/image
//
// A list step [k=v,...] matches items whose key fields include those
// values, [N] (or /N) the item at position N of the desired list, and [*]
// (or /*) any item.
type PathPattern struct {
	text  string
	steps []patternStep
}

type patternStep struct {
	field    string
	keys     []KeyValue
	index    int
	anyItem  bool
	isIndex  bool
	isFields bool
}

func (p PathPattern) String() string { return p.text }

// ParsePathPattern parses a pattern; the error says what is wrong and where.
func ParsePathPattern(s string) (PathPattern, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return PathPattern{}, fmt.Errorf("empty path")
	}
	var steps []patternStep
	var err error
	if strings.HasPrefix(s, "/") {
		steps, err = parsePointer(s)
	} else {
		steps, err = parseDotted(s)
	}
	if err != nil {
		return PathPattern{}, fmt.Errorf("invalid path %q: %w", s, err)
	}
	return PathPattern{text: s, steps: steps}, nil
}

func parsePointer(s string) ([]patternStep, error) {
	var steps []patternStep
	for _, seg := range strings.Split(s[1:], "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		switch {
		case seg == "":
			return nil, fmt.Errorf("empty segment")
		case seg == "*":
			steps = append(steps, patternStep{anyItem: true})
		default:
			if n, err := strconv.Atoi(seg); err == nil && n >= 0 {
				// A number is a list position, or a map key that looks like
				// one: match either.
				steps = append(steps, patternStep{isIndex: true, index: n, field: seg})
			} else {
				steps = append(steps, patternStep{field: seg, isFields: true})
			}
		}
	}
	return steps, nil
}

func parseDotted(s string) ([]patternStep, error) {
	var steps []patternStep
	i := 0
	for i < len(s) {
		switch c := s[i]; {
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i+1] == '.' || s[i+1] == '[' {
				return nil, fmt.Errorf("misplaced '.' at offset %d", i)
			}
			i++
		case c == '[':
			end, step, err := parseBracket(s, i)
			if err != nil {
				return nil, err
			}
			steps = append(steps, step)
			i = end
		case c == ']':
			return nil, fmt.Errorf("unexpected ']' at offset %d", i)
		default:
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != ']' {
				j++
			}
			steps = append(steps, patternStep{field: s[i:j], isFields: true})
			i = j
		}
	}
	return steps, nil
}

// parseBracket parses the bracket step starting at s[i] == '['.
func parseBracket(s string, i int) (int, patternStep, error) {
	if i+1 < len(s) && s[i+1] == '"' {
		// A quoted map key: ["a.b/c"].
		j := i + 2
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j+1 >= len(s) || s[j+1] != ']' {
			return 0, patternStep{}, fmt.Errorf("unterminated quoted key at offset %d", i)
		}
		key, err := strconv.Unquote(s[i+1 : j+1])
		if err != nil {
			return 0, patternStep{}, fmt.Errorf("bad quoted key at offset %d: %w", i, err)
		}
		return j + 2, patternStep{field: key, isFields: true}, nil
	}
	body, next, err := bracketBody(s, i)
	if err != nil {
		return 0, patternStep{}, err
	}
	switch {
	case body == "*":
		return next, patternStep{anyItem: true}, nil
	case body == "":
		return 0, patternStep{}, fmt.Errorf("empty [] at offset %d", i)
	case !strings.Contains(body, "="):
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return 0, patternStep{}, fmt.Errorf("[%s] at offset %d is neither an index nor key=value", body, i)
		}
		return next, patternStep{isIndex: true, index: n}, nil
	}
	parts, err := splitUnquoted(body, ',')
	if err != nil {
		return 0, patternStep{}, fmt.Errorf("at offset %d: %w", i, err)
	}
	var kvs []KeyValue
	for _, part := range parts {
		kv, err := splitUnquoted(part, '=')
		if err != nil || len(kv) != 2 || kv[0] == "" {
			return 0, patternStep{}, fmt.Errorf("bad key selector %q at offset %d", part, i)
		}
		k, kerr := unquoteMaybe(kv[0])
		v, verr := unquoteMaybe(kv[1])
		if kerr != nil || verr != nil {
			return 0, patternStep{}, fmt.Errorf("bad quoting in %q at offset %d", part, i)
		}
		kvs = append(kvs, KeyValue{Key: k, Value: v})
	}
	return next, patternStep{keys: kvs}, nil
}

// bracketBody returns the text inside the brackets opening at s[i], with
// quoted strings allowed to hold ']' and ',', and the offset after ']'.
func bracketBody(s string, i int) (string, int, error) {
	inQuote := false
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case inQuote && c == '\\':
			j++
		case c == '"':
			inQuote = !inQuote
		case c == ']' && !inQuote:
			return s[i+1 : j], j + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated '[' at offset %d", i)
}

// splitUnquoted splits on sep outside double-quoted strings.
func splitUnquoted(s string, sep byte) ([]string, error) {
	var out []string
	inQuote, start := false, 0
	for j := 0; j < len(s); j++ {
		switch c := s[j]; {
		case inQuote && c == '\\':
			j++
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			out = append(out, s[start:j])
			start = j + 1
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	return append(out, s[start:]), nil
}

// unquoteMaybe unquotes a Go-quoted string, or trims a plain one.
func unquoteMaybe(s string) (string, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "\"") {
		return strconv.Unquote(t)
	}
	return t, nil
}

// MatchesBelow reports whether p selects something strictly below path
// (path is an ancestor of what p selects): a value shown at path would
// include the selected field.
func (p PathPattern) MatchesBelow(path Path) bool {
	if len(p.steps) <= len(path) {
		return false
	}
	for i, s := range path {
		if !p.steps[i].matches(s) {
			return false
		}
	}
	return true
}

// Matches reports whether p selects path or one of its ancestors.
func (p PathPattern) Matches(path Path) bool {
	if len(p.steps) > len(path) {
		return false
	}
	for i, ps := range p.steps {
		if !ps.matches(path[i]) {
			return false
		}
	}
	return true
}

func (ps patternStep) matches(s Step) bool {
	if s.isField() {
		return (ps.isFields || ps.isIndex) && ps.field == s.Field
	}
	switch {
	case ps.anyItem:
		return true
	case ps.isIndex:
		return ps.index == s.Index
	case len(ps.keys) > 0:
		for _, want := range ps.keys {
			found := false
			for _, kv := range s.Keys {
				if kv.Key == want.Key && kv.Value == want.Value {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return false
}
