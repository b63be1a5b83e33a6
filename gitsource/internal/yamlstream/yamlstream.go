// Package yamlstream splits a YAML stream into its documents, each with
// the line it starts on: manifests are parsed document by document, and
// the SOPS reader replaces a document no key opens with a stand-in of as
// many lines.
package yamlstream

import "bytes"

// Document is one YAML document of a multi-document stream and the
// 1-based line of the file it starts on.
type Document struct {
	Data []byte
	Line int
}

// Split splits a YAML stream on "---" separator lines, remembering where
// each document starts so errors can name the file's own line.
func Split(data []byte) []Document {
	var docs []Document
	var cur bytes.Buffer
	start := 1
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		trimmed := bytes.TrimRight(l, "\r\n")
		if bytes.Equal(trimmed, []byte("---")) || bytes.HasPrefix(trimmed, []byte("--- ")) {
			docs = append(docs, Document{Data: bytes.Clone(cur.Bytes()), Line: start})
			cur.Reset()
			start = i + 2
			continue
		}
		cur.Write(l)
	}
	docs = append(docs, Document{Data: cur.Bytes(), Line: start})
	return docs
}
