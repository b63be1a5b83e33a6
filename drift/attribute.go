package drift

import (
	"encoding/json"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ChangedBy names the field manager that owns a live value: who set it last,
// with which operation, through which subresource and when, as the
// object's managedFields record it.
type ChangedBy struct {
	Manager   string `json:"manager"`
	Operation string `json:"operation"`
	// Subresource is the subresource the change was made through ("scale",
	// "status"); empty for the object itself. It tells kubectl scale
	// (manager "kubectl", Update through "scale") from server-side apply by
	// kubectl (manager "kubectl", Apply).
	Subresource string `json:"subresource,omitempty"`
	// Time is nil when the entry records none, as some do (kubectl
	// v1.37's scale entries, say).
	Time *time.Time `json:"time,omitempty"`
	// Applier is set when Manager is the manager that applied Git (the
	// one owning most of the fields Git sets): nobody changed the value
	// after Git was applied; the applier itself stored it (a default or a
	// webhook's mutation at apply time, say).
	Applier bool `json:"applier,omitempty"`
}

// entry identifies c's managedFields entry: the API server keeps one per
// manager, operation and subresource.
func (c ChangedBy) entry() string {
	return c.Manager + "\x00" + c.Operation + "\x00" + c.Subresource
}

// owners is the parsed managedFields of one live object.
type owners []owner

type owner struct {
	ChangedBy
	fields map[string]any // FieldsV1: "f:spec" → {"f:replicas": {}}
}

// liveOwners parses live's managedFields once per comparison: finding
// Added fields and attributing drift both read them.
func (c *comparer) liveOwners(live *unstructured.Unstructured) owners {
	if !c.ownersParsed {
		c.owners, c.ownersParsed = parseOwners(live), true
	}
	return c.owners
}

// parseOwners reads the live object's managedFields. Entries for
// subresources (status, scale) are kept: a scale change is a real change.
func parseOwners(live *unstructured.Unstructured) owners {
	md, _ := live.Object["metadata"].(map[string]any)
	mfs, ok := md["managedFields"].([]any)
	if !ok {
		return nil
	}
	out := make(owners, 0, len(mfs))
	for _, e := range mfs {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		fields := FieldsV1(m["fieldsV1"])
		if fields == nil {
			continue
		}
		o := owner{fields: fields}
		o.Manager, _ = m["manager"].(string)
		o.Operation, _ = m["operation"].(string)
		o.Subresource, _ = m["subresource"].(string)
		if ts, ok := m["time"].(string); ok {
			if t, err := time.Parse(time.RFC3339, ts); err == nil {
				o.Time = &t
			}
		}
		out = append(out, o)
	}
	return out
}

// FieldsV1 returns a managedFields entry's FieldsV1 tree ("f:spec" →
// {"f:replicas": {}}), from either the map the API server sends or the JSON
// text an informer's cache may keep instead (informer.CompactManagedFields
// does, to save memory); nil when there is none or it does not parse.
func FieldsV1(v any) map[string]any {
	switch f := v.(type) {
	case map[string]any:
		return f
	case string:
		var tree map[string]any
		if err := json.Unmarshal([]byte(f), &tree); err != nil {
			return nil
		}
		return tree
	}
	return nil
}

// ownerOf returns the manager owning the value at p, the most recent one if
// several share it, or nil when nobody does.
func (os owners) ownerOf(p Path) *ChangedBy {
	var best *ChangedBy
	for i := range os {
		if !owns(os[i].fields, p) {
			continue
		}
		if best == nil || (os[i].Time != nil && (best.Time == nil || os[i].Time.After(*best.Time))) {
			cb := os[i].ChangedBy
			best = &cb
		}
	}
	return best
}

// owns reports whether a FieldsV1 tree contains p, or an ancestor of p as a
// leaf (the owner of an atomic list or map owns everything in it).
func owns(tree map[string]any, p Path) bool {
	node := tree
	for i, s := range p {
		child, ok := lookup(node, s)
		if !ok {
			return false
		}
		if len(child) == 0 || i == len(p)-1 {
			return true
		}
		node = child
	}
	return false
}

// lookup finds the FieldsV1 child for one path step: f:<field> for map
// keys, and for list items i:<index>, v:<value> or the k:{...} entry whose
// key fields all match the live item.
func lookup(node map[string]any, s Step) (map[string]any, bool) {
	if s.isField() {
		c, ok := node["f:"+s.Field].(map[string]any)
		return c, ok
	}
	if s.liveItem == nil {
		c, ok := node["i:"+itoa(s.Index)].(map[string]any)
		return c, ok
	}
	if js, err := json.Marshal(s.liveItem); err == nil {
		if c, ok := node["v:"+string(js)].(map[string]any); ok {
			return c, true
		}
	}
	item, isMap := s.liveItem.(map[string]any)
	if !isMap {
		return nil, false
	}
	for k, v := range node {
		if !strings.HasPrefix(k, "k:") {
			continue
		}
		var keys map[string]any
		if json.Unmarshal([]byte(k[2:]), &keys) != nil {
			continue
		}
		match := true
		for kk, kv := range keys {
			if !valueEqual(nil, kv, item[kk]) {
				match = false
				break
			}
		}
		if c, ok := v.(map[string]any); ok && match {
			return c, true
		}
	}
	return nil, false
}

func itoa(i int) string {
	js, _ := json.Marshal(i)
	return string(js)
}
