package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/driftwatch/driftwatch/drift/pipeline"
	"github.com/driftwatch/driftwatch/drift/pipeline/reports"
	"github.com/driftwatch/driftwatch/gitsource"
	"github.com/driftwatch/driftwatch/informer"
)

// rbacOptions holds the flags of `driftwatch rbac`.
type rbacOptions struct {
	streams
	Source      sourceFlags
	Cluster     clusterOptions
	Target      targetFlags
	Name        string
	Namespaced  bool
	Confirm     string
	LeaderElect bool
	// Reports grants what --reports needs to publish report objects of
	// that format (openreports or policyreport).
	Reports         string
	LeaderNamespace string
	Subject         string
	// For is the command the role is for: check and watch read; revert
	// also writes (patch, create; delete with Prune).
	For   string
	Prune bool
	// ClusterSecrets is, with --for fleet, the namespace of the Argo CD
	// cluster Secrets the hub follows in its own cluster.
	ClusterSecrets string
	// nameSet says --name was given.
	nameSet bool
}

func newCmdRBAC(s streams) *cobra.Command {
	o := &rbacOptions{streams: s}
	cmd := &cobra.Command{
		Use:   "rbac (--repo URL [--ref REF] | --dir DIR) [--path PATH]",
		Short: "Print the least-privilege RBAC that check, watch or revert need for this Git source",
		Long: `rbac renders the same desired state as check and prints the least RBAC check and watch need
for it: get, list and watch on exactly those resources (patch too with --confirm=server), and
the discovery and OpenAPI endpoints. --for revert prints the role revert needs instead;
--namespaced prints Roles per namespace; --subject prints the bindings too.`,
		Example: `  driftwatch rbac --dir . --subject serviceaccount:driftwatch/driftwatch | kubectl apply -f -
  driftwatch rbac --repo https://github.com/acme/deploy.git --namespaced --confirm server
  driftwatch rbac --dir . --for revert --prune --name driftwatch-revert`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.nameSet = cmd.Flags().Changed("name")
			return rbacRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.Source.register(f)
	o.Cluster.register(f)
	o.Target.register(f)
	f.StringVar(&o.Name, "name", "driftwatch", "name of the generated roles and bindings")
	f.BoolVar(&o.Namespaced, "namespaced", false, "Roles per namespace for namespaced resources instead of one ClusterRole")
	f.StringVar(&o.Confirm, "confirm", "", `"server": also grant patch, which --confirm=server needs for its dry runs`)
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "grant the Lease that watch --leader-elect uses")
	f.StringVar(&o.Reports, "reports", "", "openreports or policyreport: grant what --reports needs, in every namespace")
	f.StringVar(&o.LeaderNamespace, "leader-elect-namespace", "default", "namespace of that Lease")
	f.StringVar(&o.Subject, "subject", "", "also print bindings for serviceaccount:NS/NAME, user:NAME or group:NAME")
	f.StringVar(&o.For, "for", "check", "the command the role is for: check or watch (read-only), revert (also patch and create), or fleet")
	f.BoolVar(&o.Prune, "prune", false, "with --for revert: also grant delete, which revert --prune needs")
	f.StringVar(&o.ClusterSecrets, "cluster-secrets", "", "with --for fleet: also grant reading the cluster Secrets in this namespace")
	return cmd
}

// rbacSubject parses --subject.
func rbacSubject(s string) (*rbacv1.Subject, error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return nil, fmt.Errorf("flag --subject: %q is not serviceaccount:NS/NAME, user:NAME or group:NAME", s)
	}
	switch strings.ToLower(kind) {
	case "serviceaccount", "sa":
		ns, n, ok := strings.Cut(name, "/")
		if !ok || ns == "" || n == "" {
			return nil, fmt.Errorf("flag --subject: service account %q needs NS/NAME", name)
		}
		return &rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n}, nil
	case "user":
		return &rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}, nil
	case "group":
		return &rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}, nil
	}
	return nil, fmt.Errorf("flag --subject: unknown kind %q (want serviceaccount, user or group)", kind)
}

func rbacRun(ctx context.Context, o *rbacOptions) error {
	if o.For == "fleet" {
		return rbacFleet(o)
	}
	if o.ClusterSecrets != "" {
		return errors.New("flag --cluster-secrets: only with --for fleet")
	}
	if err := o.Source.validate(); err != nil {
		return err
	}
	if o.Confirm != "" && o.Confirm != "server" {
		return fmt.Errorf("flag --confirm: unknown value %q (want server)", o.Confirm)
	}
	if o.Reports != "" {
		if _, err := reports.ParseFormat(o.Reports); err != nil {
			return fmt.Errorf("flag --reports: %w", err)
		}
	}
	verbs, err := rbacVerbs(o.For, o.Confirm == "server", o.Prune)
	if err != nil {
		return err
	}
	var subject *rbacv1.Subject
	if o.Subject != "" {
		if subject, err = rbacSubject(o.Subject); err != nil {
			return err
		}
	}
	filter, err := o.Target.filter()
	if err != nil {
		return err
	}
	srcOpts, err := o.Source.options()
	if err != nil {
		return err
	}
	cl, err := connect(ctx, o.Cluster)
	if err != nil {
		return err
	}
	srcOpts.Render.Capabilities = cl.Capabilities
	srcOpts.Render.Pack = true // planning reads only each object's identity
	desired, err := gitsource.Load(ctx, srcOpts)
	if err != nil {
		return err
	}
	plan := pipeline.Plan(ctx, informer.NewResolver(cl.Discovery), desired.Objects, cl.Namespace, filter)
	if plan.Unmatched != nil && !o.Target.AllowEmpty {
		return plan.Unmatched
	}
	scopes := plan.Scopes
	for _, t := range plan.Targets {
		if t.Err != nil {
			fmt.Fprintf(o.Err, "warning: %s: no rule generated: %v\n", t.Object.GetName(), t.Err)
		}
	}
	docs := buildRBAC(o, scopes, verbs, subject)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# RBAC for driftwatch: %s\n", describeRevision(desired.Revision))
	if err := writeDocs(&buf, docs); err != nil {
		return err
	}
	_, err = o.Out.Write(buf.Bytes())
	return err
}

// rbacVerbs are the verbs a command needs on the resources of the plan:
// check and watch read them (and patch them for --confirm=server dry
// runs); revert also patches (server-side apply, JSON patch) and creates
// (server-side apply of a Missing object), and deletes with --prune.
func rbacVerbs(forCmd string, confirm, prune bool) ([]string, error) {
	verbs := []string{"get", "list", "watch"}
	switch forCmd {
	case "check", "watch":
		if prune {
			return nil, fmt.Errorf("flag --prune: only with --for revert (%s deletes nothing)", forCmd)
		}
		if confirm {
			verbs = append(verbs, "patch")
		}
	case "revert":
		verbs = append(verbs, "patch", "create")
		if prune {
			verbs = append(verbs, "delete")
		}
	default:
		return nil, fmt.Errorf("flag --for: unknown command %q (want check, watch, revert or fleet)", forCmd)
	}
	return verbs, nil
}

// buildRBAC computes the roles: one rule per API group listing its
// resources, sorted, so the output is stable and reviewable.
func buildRBAC(o *rbacOptions, scopes []informer.Scope, verbs []string, subject *rbacv1.Subject) []any {
	cluster := map[string]map[string]bool{} // group → resources (cluster-wide)
	perNS := map[string]map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, group, res string) {
		if m[group] == nil {
			m[group] = map[string]bool{}
		}
		m[group][res] = true
	}
	for _, s := range scopes {
		if s.Namespace != "" && o.Namespaced {
			if perNS[s.Namespace] == nil {
				perNS[s.Namespace] = map[string]map[string]bool{}
			}
			add(perNS[s.Namespace], s.GVR.Group, s.GVR.Resource)
			continue
		}
		add(cluster, s.GVR.Group, s.GVR.Resource)
	}
	rules := rulesFor(cluster, verbs)
	// watch follows CRDs; reading them never needs more than this, and a
	// source that holds CRDs has the rule above already.
	if !cluster["apiextensions.k8s.io"]["customresourcedefinitions"] {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"apiextensions.k8s.io"},
			Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch"}})
	}
	if o.Reports != "" {
		// Reports go to every namespace the source uses, and are found
		// again by label across all of them.
		format, _ := reports.ParseFormat(o.Reports) // rbacRun checked it
		nsRes, clRes := format.Resources()
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{nsRes.Group},
			Resources: []string{clRes.Resource, nsRes.Resource},
			Verbs:     []string{"get", "list", "create", "patch", "delete"}})
	}
	rules = append(rules, rbacv1.PolicyRule{Verbs: []string{"get"},
		NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi/v3", "/openapi/v3/*", "/version"}})
	var docs []any
	docs = append(docs, &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/name": "driftwatch"}},
		Rules:      rules,
	})
	if subject != nil {
		docs = append(docs, &rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: map[string]string{"app.kubernetes.io/name": "driftwatch"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: o.Name},
			Subjects:   []rbacv1.Subject{*subject},
		})
	}
	namespaces := make([]string, 0, len(perNS))
	for ns := range perNS {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	roles := map[string][]rbacv1.PolicyRule{}
	for _, ns := range namespaces {
		roles[ns] = rulesFor(perNS[ns], verbs)
	}
	if o.LeaderElect {
		roles[o.LeaderNamespace] = append(roles[o.LeaderNamespace], rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"},
			Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}})
		if perNS[o.LeaderNamespace] == nil {
			namespaces = append(namespaces, o.LeaderNamespace)
		}
	}
	for _, ns := range namespaces {
		docs = append(docs, &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/name": "driftwatch"}},
			Rules:      roles[ns],
		})
		if subject != nil {
			docs = append(docs, &rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/name": "driftwatch"}},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: o.Name},
				Subjects:   []rbacv1.Subject{*subject},
			})
		}
	}
	return docs
}

func rulesFor(byGroup map[string]map[string]bool, verbs []string) []rbacv1.PolicyRule {
	groups := make([]string, 0, len(byGroup))
	for g := range byGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var rules []rbacv1.PolicyRule
	for _, g := range groups {
		var res []string
		for r := range byGroup[g] {
			res = append(res, r)
		}
		sort.Strings(res)
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: res, Verbs: append([]string(nil), verbs...)})
	}
	return rules
}

// rbacFleet prints what `driftwatch fleet` needs: in each member cluster,
// reading driftwatch's report objects and nothing else; in the hub's own
// cluster, reading the Argo CD cluster Secrets (--cluster-secrets) and
// holding its Lease (--leader-elect). It needs no source.
func rbacFleet(o *rbacOptions) error {
	if o.Prune || o.Confirm != "" || o.Namespaced {
		return errors.New("flag --for: fleet takes none of --prune, --confirm, --namespaced (it reads report objects only)")
	}
	format := reports.OpenReports
	if o.Reports != "" {
		f, err := reports.ParseFormat(o.Reports)
		if err != nil {
			return fmt.Errorf("flag --reports: %w", err)
		}
		format = f
	}
	var subject *rbacv1.Subject
	if o.Subject != "" {
		var err error
		if subject, err = rbacSubject(o.Subject); err != nil {
			return err
		}
	}
	if !o.nameSet {
		// The default name is the agent's: the hub's roles must not
		// replace an agent's in a cluster that runs both.
		o.Name = "driftwatch-fleet"
	}
	labels := map[string]string{"app.kubernetes.io/name": "driftwatch"}
	nsRes, clRes := format.Resources()
	member := []any{&rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{nsRes.Group}, Resources: []string{clRes.Resource, nsRes.Resource},
			Verbs: []string{"get", "list", "watch"}}},
	}}
	if subject != nil {
		member = append(member, &rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: o.Name},
			Subjects:   []rbacv1.Subject{*subject},
		})
	}
	hubRoles := map[string][]rbacv1.PolicyRule{}
	var namespaces []string
	addRule := func(ns string, r rbacv1.PolicyRule) {
		if hubRoles[ns] == nil {
			namespaces = append(namespaces, ns)
		}
		hubRoles[ns] = append(hubRoles[ns], r)
	}
	if o.ClusterSecrets != "" {
		// RBAC cannot select by label: the hub lists only the Secrets
		// labelled argocd.argoproj.io/secret-type=cluster, but may read
		// every Secret of this namespace.
		addRule(o.ClusterSecrets, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}})
	}
	if o.LeaderElect {
		addRule(o.LeaderNamespace, rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}})
	}
	var hub []any
	for _, ns := range namespaces {
		hub = append(hub, &rbacv1.Role{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, Labels: labels},
			Rules:      hubRoles[ns],
		})
		if subject != nil {
			hub = append(hub, &rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: o.Name},
				Subjects:   []rbacv1.Subject{*subject},
			})
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# RBAC for driftwatch fleet: in each member cluster, read %s and %s (nothing else)\n", nsRes.GroupResource(), clRes.GroupResource())
	if err := writeDocs(&buf, member); err != nil {
		return err
	}
	if len(hub) > 0 {
		buf.WriteString("# in the hub's own cluster\n")
		if err := writeDocs(&buf, hub); err != nil {
			return err
		}
	}
	_, err := o.Out.Write(buf.Bytes())
	return err
}

func writeDocs(buf *bytes.Buffer, docs []any) error {
	for _, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return nil
}
