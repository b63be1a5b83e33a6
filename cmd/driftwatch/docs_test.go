package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/driftwatch/driftwatch/drift"
)

// docs/reference.md is generated from the commands and the configuration
// files' Go types; it must match.
func TestReferenceInSync(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "docs", "reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := referenceMarkdown(newRootCmd(streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}))
	if !bytes.Equal(got, want) {
		gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gotLines) && i < len(wantLines) && gotLines[i] == wantLines[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Errorf("docs/reference.md is out of date: run %s\nfirst difference, line %d:\n  file: %s\n  code: %s",
			regenerateDocs, i+1, line(wantLines), line(gotLines))
	}
	// The documented examples are valid.
	if _, err := drift.ParseConfig("example", []byte(configExample)); err != nil {
		t.Errorf("config example: %v", err)
	}
	file := filepath.Join(t.TempDir(), "source.yaml")
	if err := os.WriteFile(file, []byte(sourceConfigExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if sc, err := loadSourceConfig(file); err != nil {
		t.Errorf("source config example: %v", err)
	} else if sc.Render == "" || sc.Helm.ReleaseName == "" || len(sc.Helm.ValuesFiles) == 0 || len(sc.Helm.Values) == 0 {
		t.Errorf("source config example sets too little: %+v", sc)
	}
}

// Every field of both configuration files is described, and every
// description names a field.
func TestReferenceDescribesEveryField(t *testing.T) {
	for _, tt := range []struct {
		file string
		typ  reflect.Type
		tag  string
		docs map[string]string
	}{
		{"--config", reflect.TypeOf(configFileDoc{}), "yaml", configFieldDocs},
		{"--source-config", reflect.TypeOf(sourceConfig{}), "json", sourceConfigFieldDocs},
	} {
		fields := map[string]bool{}
		for _, f := range fileFields(tt.typ, tt.tag) {
			fields[f.Path] = true
			if strings.TrimSpace(tt.docs[f.Path]) == "" {
				t.Errorf("%s: field %s has no description (add it to the map beside the generator in docs.go)", tt.file, f.Path)
			}
		}
		for path := range tt.docs {
			if !fields[path] {
				t.Errorf("%s: description of %s, which is no field of %v", tt.file, path, tt.typ)
			}
		}
	}
}

// configFileDoc, which the reference walks, has exactly the fields of the
// types drift.ParseConfig decodes the --config file into (unexported, so
// read from drift's source): names, nesting, lists.
func TestConfigDocMatchesParser(t *testing.T) {
	fset := token.NewFileSet()
	structs := map[string]*ast.StructType{}
	files, err := filepath.Glob(filepath.Join("..", "..", "drift", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	if structs["rawConfig"] == nil {
		t.Fatal("drift has no rawConfig: what does ParseConfig decode into now? Update configFileDoc and this test")
	}
	var parserShape []string
	var walkAST func(st *ast.StructType, prefix string, depth int)
	walkAST = func(st *ast.StructType, prefix string, depth int) {
		for _, field := range st.Fields.List {
			if field.Tag == nil || len(field.Names) != 1 {
				continue
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			name, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			expr, list := field.Type, false
			if s, ok := expr.(*ast.StarExpr); ok {
				expr = s.X
			}
			if a, ok := expr.(*ast.ArrayType); ok {
				expr, list = a.Elt, true
			}
			if s, ok := expr.(*ast.StarExpr); ok {
				expr = s.X
			}
			id, _ := expr.(*ast.Ident)
			if id != nil && structs[id.Name] != nil && depth < 5 {
				parserShape = append(parserShape, shapeLine(prefix+name, true, list))
				walkAST(structs[id.Name], prefix+name+".", depth+1)
				continue
			}
			parserShape = append(parserShape, shapeLine(prefix+name, false, list))
		}
	}
	walkAST(structs["rawConfig"], "", 0)
	var docShape []string
	var walkType func(t reflect.Type, prefix string, depth int)
	walkType = func(t reflect.Type, prefix string, depth int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			ft, list := deref(sf.Type), false
			if ft.Kind() == reflect.Slice {
				ft, list = deref(ft.Elem()), true
			}
			if ft.Kind() == reflect.Struct && depth < 5 {
				docShape = append(docShape, shapeLine(prefix+name, true, list))
				walkType(ft, prefix+name+".", depth+1)
				continue
			}
			docShape = append(docShape, shapeLine(prefix+name, false, list))
		}
	}
	walkType(reflect.TypeOf(configFileDoc{}), "", 0)
	if diff := cmp.Diff(parserShape, docShape); diff != "" {
		t.Errorf("configFileDoc (docs.go) differs from the types drift.ParseConfig decodes into (-parser +doc):\n%s", diff)
	}
}

func shapeLine(path string, object, list bool) string {
	kind := "value"
	if object {
		kind = "object"
	}
	if list {
		kind = "list of " + kind + "s"
	}
	return path + ": " + kind
}

// Every flag of every command says what it does: --help and the
// reference show nothing else.
func TestEveryFlagHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.LocalFlags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) {
				if strings.TrimSpace(f.Usage) == "" {
					t.Errorf("%s: flag --%s has no help text", c.CommandPath(), f.Name)
				}
			})
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}))
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
