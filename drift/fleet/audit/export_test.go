package audit

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftwatch/driftwatch/drift/fleet"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// exported are events with what an export must carry through: commas,
// quotes and semicolons in values, a cluster-scoped resource, a resolved
// event without paths or times, a time with microseconds.
func exported() []fleet.Event {
	return []fleet.Event{
		ev(fleet.Detected, "web", 0),
		ev(fleet.Changed, "web", 90*time.Second+123456*time.Microsecond, func(e *fleet.Event) {
			e.Paths = []string{`metadata.annotations["a,b;c"]`, `spec.template.metadata.labels["say \"hi\""]`}
			e.Fields, e.Manager, e.Severity = 3, "helm, then kubectl", "critical"
		}),
		ev(fleet.Detected, "admin", 2*time.Minute, inNamespace(""), ofKind("ClusterRole"), func(e *fleet.Event) {
			e.APIVersion, e.Severity, e.FirstSeen = "rbac.authorization.k8s.io/v1", "", nil
		}),
		ev(fleet.Resolved, "web", time.Hour, func(e *fleet.Event) { e.Status = "InSync" }),
	}
}

// TestExport writes the events each backend reads back in each format
// and compares with testdata/export.{jsonl,csv} (go test -update rewrites
// them).
func TestExport(t *testing.T) {
	formats := []struct {
		golden string
		write  func(io.Writer, []fleet.Event) error
	}{
		{"export.jsonl", WriteJSONLines},
		{"export.csv", WriteCSV},
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		l := openLog(t, dsn)
		mustAppend(t, l, exported()...)
		events := all(t, l)
		for _, f := range formats {
			t.Run(f.golden, func(t *testing.T) {
				var buf bytes.Buffer
				if err := f.write(&buf, events); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", f.golden)
				if *update {
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), buf.String()); diff != "" {
					t.Errorf("%s (-want +got):\n%s", path, diff)
				}
			})
		}
	})
}

// TestExportEmpty: no events, no lines; CSV still has its header.
func TestExportEmpty(t *testing.T) {
	var jl, cv bytes.Buffer
	if err := WriteJSONLines(&jl, nil); err != nil || jl.Len() != 0 {
		t.Errorf("WriteJSONLines(nil) = %q, %v; want nothing", jl.String(), err)
	}
	if err := WriteCSV(&cv, nil); err != nil || cv.String() != "seq,time,type,cluster,apiVersion,kind,namespace,name,status,severity,paths,fields,manager,changedAt,firstSeen,digest,policy,revision\n" {
		t.Errorf("WriteCSV(nil) = %q, %v; want the header", cv.String(), err)
	}
}

// TestExportWriteError reports the writer's error.
func TestExportWriteError(t *testing.T) {
	for name, write := range map[string]func(io.Writer, []fleet.Event) error{"jsonl": WriteJSONLines, "csv": WriteCSV} {
		if err := write(failing{}, exported()); err == nil {
			t.Errorf("%s: no error from a failing writer", name)
		}
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, os.ErrClosed }

// A field manager chosen to be a formula is exported as text.
func TestExportCSVNoFormula(t *testing.T) {
	var b strings.Builder
	e := fleet.Event{Seq: 1, Time: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), Type: fleet.Detected, Cluster: "prod",
		APIVersion: "v1", Kind: "ConfigMap", Name: "@cfg", Manager: `=HYPERLINK("http://evil.example","x")`}
	if err := WriteCSV(&b, []fleet.Event{e}); err != nil {
		t.Fatal(err)
	}
	row := strings.Split(strings.TrimSpace(b.String()), "\n")[1]
	for _, want := range []string{`'@cfg`, `"'=HYPERLINK(""http://evil.example"",""x"")"`} {
		if !strings.Contains(row, want) {
			t.Errorf("row %s lacks %s", row, want)
		}
	}
}
