package adopt

import (
	"github.com/driftwatch/driftwatch/drift"
)

// Selection chooses what of a report to adopt. The zero value chooses
// every drifted field and reports Missing objects without removing them.
type Selection struct {
	// Fields keep only the fields one of them matches (the field or one
	// of its ancestors: "spec" keeps spec.replicas); empty keeps all.
	// With Fields, only Drifted resources are chosen: Missing, Extra and
	// Error resources have no field to match.
	Fields []drift.PathPattern
	// Prune removes Missing objects from the source.
	Prune bool
}

// EditsFor turns a report into edits. What cannot become an edit (a
// Missing object without Prune, an Extra object, a resource that could
// not be checked) comes back as an outcome that was not adopted.
func EditsFor(r *drift.Report, sel Selection) ([]Edit, []Outcome) {
	var edits []Edit
	var skipped []Outcome
	for _, res := range r.Resources {
		id := ObjectID{APIVersion: res.APIVersion, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name}
		if len(sel.Fields) > 0 && res.Status != drift.Drifted {
			continue
		}
		switch res.Status {
		case drift.Drifted:
			for _, d := range res.Diffs {
				if !sel.chooses(d.ParsedPath()) {
					continue
				}
				e := Edit{Object: id, Path: d.ParsedPath(), Desired: d.Desired, Live: d.Live, Sensitive: d.Sensitive}
				switch d.Type {
				case drift.Removed:
					e.Op = Unset
				case drift.Reordered:
					e.Op = Reorder
				default:
					e.Op = Set
				}
				edits = append(edits, e)
			}
		case drift.Missing:
			e := Edit{Object: id, Op: Remove}
			if sel.Prune {
				edits = append(edits, e)
			} else {
				skipped = append(skipped, notAdopted(e, false, "missing in the cluster: pass --prune to remove it from the source"))
			}
		case drift.Extra:
			skipped = append(skipped, notAdopted(Edit{Object: id, Op: Remove}, false, "extra in the cluster: adopt does not add objects to the source"))
		case drift.Error:
			skipped = append(skipped, notAdopted(Edit{Object: id, Op: Remove}, false, "could not be checked: %s", res.Error))
		}
	}
	return edits, skipped
}

func (s Selection) chooses(p drift.Path) bool {
	if len(s.Fields) == 0 {
		return true
	}
	for _, f := range s.Fields {
		if f.Matches(p) {
			return true
		}
	}
	return false
}
