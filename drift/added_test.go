package drift

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withManagers appends a managedFields block to a live manifest.
func withManagers(live string, entries ...string) string {
	out := live + "  managedFields:\n"
	for _, e := range entries {
		out += e
	}
	return out
}

// entry is one managedFields entry as the API server writes it.
func entry(manager, op, fields string) string {
	return "  - {manager: " + manager + ", operation: " + op + ", apiVersion: v1, time: \"2026-11-29T10:00:00Z\", fieldsType: FieldsV1, fieldsV1: " + fields + "}\n"
}

const (
	cronDesired = "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec: {schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\n"
	// The applier (kubectl server-side apply) owns what Git sets.
	cronApplier   = `{"f:spec": {"f:schedule": {}, "f:jobTemplate": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"job\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}}}`
	deployDesired = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\n"
	deployApplier = `{"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}, "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}`
)

func TestCompareAdded(t *testing.T) {
	tests := []struct {
		name    string
		policy  *AddedPolicy
		desired string
		live    string
		want    []string // "type path live-value by-manager"
	}{
		{"kubectl patch suspend on a CronJob", &AddedPolicy{}, cronDesired,
			withManagers("apiVersion: batch/v1\nkind: CronJob\nspec: {suspend: true, schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\nmetadata:\n  name: nightly\n",
				entry("kubectl", "Apply", cronApplier), entry("kubectl-patch", "Update", `{"f:spec": {"f:suspend": {}}}`)),
			[]string{"Added spec.suspend true kubectl-patch"}},
		{"the same without a policy: server-side apply's view", nil, cronDesired,
			withManagers("apiVersion: batch/v1\nkind: CronJob\nspec: {suspend: true, schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\nmetadata:\n  name: nightly\n",
				entry("kubectl", "Apply", cronApplier), entry("kubectl-patch", "Update", `{"f:spec": {"f:suspend": {}}}`)),
			nil},
		{"kubectl set env adds an item to a keyed list", &AddedPolicy{}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}, {name: DEBUG, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
				entry("kubectl", "Apply", deployApplier),
				entry("kubectl-set", "Update", `{"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:env": {"k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}`)),
			[]string{`Added spec.template.spec.containers[name=app].env[name=DEBUG] {"name":"DEBUG","value":"1"} kubectl-set`}},
		{"kubectl edit adds a privileged securityContext", &AddedPolicy{}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}], securityContext: {privileged: true}}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
				entry("kubectl", "Apply", deployApplier),
				entry("kubectl-edit", "Update", `{"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:securityContext": {".": {}, "f:privileged": {}}}}}}}}`)),
			[]string{`Added spec.template.spec.containers[name=app].securityContext {"privileged":true} kubectl-edit`}},
		{"under a null list, the item added by hand is Added, not the list", &AddedPolicy{},
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, labels: {app: web}}\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: null}]}}}\n",
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: DEBUG, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
				entry("kubectl", "Apply", deployApplier),
				entry("kubectl-set", "Update", `{"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:env": {"k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}`)),
			[]string{`Added spec.template.spec.containers[name=app].env[name=DEBUG] {"name":"DEBUG","value":"1"} kubectl-set`}},
		{"under null annotations, only the annotation added by hand is Added (with Metadata)", &AddedPolicy{Metadata: true},
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: null}\ndata: {k: v}\n",
			withManagers("apiVersion: v1\nkind: ConfigMap\ndata: {k: v}\nmetadata:\n  name: c\n  annotations: {meta.helm.sh/release-name: r, owner: me}\n",
				entry("helm", "Apply", `{"f:metadata": {"f:annotations": {"f:meta.helm.sh/release-name": {}}}, "f:data": {"f:k": {}}}`),
				entry("kubectl-annotate", "Update", `{"f:metadata": {"f:annotations": {"f:owner": {}}}}`)),
			[]string{`Added metadata.annotations.owner me kubectl-annotate`}},
		{"a label added by hand is silent by default", &AddedPolicy{}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web, team: checkout}\n",
				entry("kubectl", "Apply", deployApplier), entry("kubectl-label", "Update", `{"f:metadata": {"f:labels": {"f:team": {}}}}`)),
			nil},
		{"and reported when asked", &AddedPolicy{Metadata: true}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web, team: checkout}\n",
				entry("kubectl", "Apply", deployApplier), entry("kubectl-label", "Update", `{"f:metadata": {"f:labels": {"f:team": {}}}}`)),
			[]string{"Added metadata.labels.team checkout kubectl-label"}},
		{"replicas set by a controller is silent", &AddedPolicy{}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: 7, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
				entry("kubectl", "Apply", deployApplier), entry("kube-controller-manager", "Update", `{"f:spec": {"f:replicas": {}}}`)),
			nil},
		{"a sidecar injected when Git was applied is silent (the applier owns it)", &AddedPolicy{}, deployDesired,
			withManagers("apiVersion: apps/v1\nkind: Deployment\nspec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: 'web:1', env: [{name: A, value: '1'}]}, {name: proxy, image: 'envoy:1'}]}}}\nmetadata:\n  name: web\n  labels: {app: web}\n",
				entry("kubectl", "Apply", `{"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}, "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}, "k:{\"name\":\"proxy\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}`)),
			nil},
		{"Git applied with client-side apply: its manager is the applier, not a person", &AddedPolicy{}, cronDesired,
			withManagers("apiVersion: batch/v1\nkind: CronJob\nspec: {concurrencyPolicy: Forbid, schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\nmetadata:\n  name: nightly\n",
				entry("kubectl-client-side-apply", "Update", `{"f:spec": {"f:concurrencyPolicy": {}, "f:schedule": {}, "f:jobTemplate": {"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"job\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}}}`)),
			nil},
		{"a manager of our own added to the interactive ones", &AddedPolicy{Managers: []string{"lens-*"}}, cronDesired,
			withManagers("apiVersion: batch/v1\nkind: CronJob\nspec: {suspend: true, schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\nmetadata:\n  name: nightly\n",
				entry("kubectl", "Apply", cronApplier), entry("lens-desktop", "Update", `{"f:spec": {"f:suspend": {}}}`)),
			[]string{"Added spec.suspend true lens-desktop"}},
		{"ownership of a field live no longer holds is stale", &AddedPolicy{}, cronDesired,
			withManagers("apiVersion: batch/v1\nkind: CronJob\nspec: {schedule: '0 3 * * *', jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: backup:1}]}}}}}\nmetadata:\n  name: nightly\n",
				entry("kubectl", "Apply", cronApplier), entry("kubectl-patch", "Update", `{"f:spec": {"f:suspend": {}}}`)),
			nil},
		{"a Secret key added by hand: reported, never shown", &AddedPolicy{}, "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: YQ==}\n",
			withManagers("apiVersion: v1\nkind: Secret\ndata: {a: YQ==, b: c2VjcmV0}\nmetadata:\n  name: s\n",
				entry("kubectl", "Apply", `{"f:data": {"f:a": {}}}`), entry("kubectl-edit", "Update", `{"f:data": {"f:b": {}}}`)),
			[]string{"Added data.b <nil> kubectl-edit sensitive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range Compare(obj(t, tt.desired), obj(t, tt.live), Options{Added: tt.policy, HashKey: []byte("k")}) {
				s := string(d.Type) + " " + d.Path + " " + fmtValue(d.Live)
				if d.ChangedBy != nil {
					s += " " + d.ChangedBy.Manager
				}
				if d.Sensitive {
					s += " sensitive"
					if d.LiveHash == "" {
						t.Errorf("%s: sensitive Added without a live hash", d.Path)
					}
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("diffs (-want +got):\n%s", diff)
			}
		})
	}
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "<nil>"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
