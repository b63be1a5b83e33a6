package fleet

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/driftwatch/driftwatch/drift"
)

// Two sources that both declare a resource, both reporting it drifted
// with their own digests: the audit log follows one of them, the more
// severe, then the first policy, and logs it once, however many passes
// run (the objects are a map: without an order, the two took turns and
// each pass logged a Changed event).
func TestAuditTwoSourcesOneResource(t *testing.T) {
	res := func(policy string, sev drift.Severity, digest string) Resource {
		return Resource{Cluster: "c", APIVersion: "v1", Kind: "Namespace", Name: "shop",
			Status: drift.Drifted, Severity: sev, Digest: digest, Policy: policy}
	}
	tests := []struct {
		name         string
		a, b         Resource
		wantPolicy   string
		wantSeverity drift.Severity
	}{
		{"same severity: the first policy", res("platform", drift.SeverityWarning, "d1"), res("apps", drift.SeverityWarning, "d2"), "apps", drift.SeverityWarning},
		{"the more severe", res("apps", drift.SeverityInfo, "d1"), res("platform", drift.SeverityCritical, "d2"), "platform", drift.SeverityCritical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &member{Member: Member{Name: "c"}, synced: true, written: map[string]Resource{}, objects: map[string]ReportObject{
				"ClusterReport|/a": {Policy: tt.a.Policy, Resources: []Resource{tt.a}},
				"ClusterReport|/b": {Policy: tt.b.Policy, Resources: []Resource{tt.b}},
			}}
			var got []string
			for pass := range 40 {
				m.pending = true
				evs, done := m.audit(time.Unix(int64(pass), 0))
				for _, e := range evs {
					got = append(got, string(e.Type)+" "+e.Policy+" "+string(e.Severity))
				}
				if done != nil {
					done()
				}
			}
			want := []string{"detected " + tt.wantPolicy + " " + string(tt.wantSeverity)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events over 40 passes (-want +got):\n%s", diff)
			}
		})
	}
}
