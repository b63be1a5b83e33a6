package adopt

import (
	"bytes"
	"fmt"
	"io"
)

// WriteDiff writes the changes as a unified diff (git's a/ b/ names,
// three lines of context), which git apply and patch -p1 read.
func WriteDiff(w io.Writer, changes []FileChange) error {
	var b bytes.Buffer
	for _, c := range changes {
		from, to := "a/"+c.Path, "b/"+c.Path
		if c.Old == nil {
			from = "/dev/null"
		}
		if c.New == nil {
			to = "/dev/null"
		}
		fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
		writeHunks(&b, splitLines(c.Old), splitLines(c.New))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// edit is one line of a line diff: ' ', '-' or '+'.
type edit struct {
	op   byte
	line []byte
}

// lineDiff diffs two texts by lines: the common head and tail are cut
// first (an adopt edit is a few lines), the rest by longest common
// subsequence.
func lineDiff(a, b [][]byte) []edit {
	head := 0
	for head < len(a) && head < len(b) && bytes.Equal(a[head], b[head]) {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && bytes.Equal(a[len(a)-1-tail], b[len(b)-1-tail]) {
		tail++
	}
	var out []edit
	for _, l := range a[:head] {
		out = append(out, edit{' ', l})
	}
	ma, mb := a[head:len(a)-tail], b[head:len(b)-tail]
	// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
	lcs := make([][]int, len(ma)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(mb)+1)
	}
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			if bytes.Equal(ma[i], mb[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && bytes.Equal(ma[i], mb[j]):
			out = append(out, edit{' ', ma[i]})
			i, j = i+1, j+1
		case j < len(mb) && (i == len(ma) || lcs[i][j+1] > lcs[i+1][j]):
			out = append(out, edit{'+', mb[j]})
			j++
		default:
			out = append(out, edit{'-', ma[i]})
			i++
		}
	}
	for _, l := range a[len(a)-tail:] {
		out = append(out, edit{' ', l})
	}
	return out
}

const diffContext = 3

// writeHunks writes the hunks of the line diff of a and b.
func writeHunks(w *bytes.Buffer, a, b [][]byte) {
	es := lineDiff(a, b)
	for i := 0; i < len(es); {
		if es[i].op == ' ' {
			i++
			continue
		}
		// A hunk: context before, changes, and context until a gap of more
		// than twice the context.
		start := max(0, i-diffContext)
		end := i
		for end < len(es) {
			if es[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(es) && es[run].op == ' ' {
				run++
			}
			if run == len(es) || run-end > 2*diffContext {
				end = min(end+diffContext, len(es))
				break
			}
			end = run
		}
		aStart, bStart := 1, 1
		for _, e := range es[:start] {
			if e.op != '+' {
				aStart++
			}
			if e.op != '-' {
				bStart++
			}
		}
		aLen, bLen := 0, 0
		for _, e := range es[start:end] {
			if e.op != '+' {
				aLen++
			}
			if e.op != '-' {
				bLen++
			}
		}
		fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, e := range es[start:end] {
			w.WriteByte(e.op)
			w.Write(e.line)
			if !bytes.HasSuffix(e.line, []byte("\n")) {
				w.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
}

// hunkRange spells a hunk's start and length as diff does ("3,4", "3"
// for one line, "2,0" for none after line 2).
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start-1)
	case 1:
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, n)
}
