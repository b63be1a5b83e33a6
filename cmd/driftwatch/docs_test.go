package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/driftwatch/driftwatch/drift"
)

// docs/reference.md is generated from the commands; it must match.
func TestReferenceInSync(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := referenceMarkdown(newRootCmd(streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}))
	if !bytes.Equal(got, want) {
		t.Error("docs/reference.md is out of date: run `make docs`")
	}
	// The documented configuration example is valid.
	if _, err := drift.ParseConfig("example", []byte(configExample)); err != nil {
		t.Errorf("config example: %v", err)
	}
}

// docs/report.schema.json describes every field of the JSON report, and
// nothing the report lacks.
func TestReportSchemaInSync(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	var check func(where string, typ reflect.Type, node map[string]any)
	check = func(where string, typ reflect.Type, node map[string]any) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if ref, ok := node["$ref"].(string); ok {
			node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		if items, ok := node["items"].(map[string]any); ok {
			node = items
			if ref, ok := node["$ref"].(string); ok {
				node = defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			}
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() == "time" {
			return
		}
		props, _ := node["properties"].(map[string]any)
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			seen[name] = true
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("schema lacks %s.%s", where, name)
				continue
			}
			check(where+"."+name, f.Type, p)
		}
		for name := range props {
			if !seen[name] {
				t.Errorf("schema has %s.%s, which the report does not", where, name)
			}
		}
	}
	check("report", reflect.TypeOf(drift.Report{}), schema)
}
